"""What a faulty connector is told to do: the config key ``fault``, as ``what:arg``."""


def cue(config: dict[str, str]) -> tuple[dict[str, str], str, str]:
    """The config the fs connector gets (no ``fault``, the location without its scheme), and the cue."""
    config = dict(config)
    what, _, arg = config.pop("fault", "").partition(":")
    config["location"] = config["location"].rpartition("://")[2]
    return config, what, arg
