from tests.registry.fixtures import *  # noqa: F403
