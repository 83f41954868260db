"""The cross-app live-server helper, so that live_server here commits through live_db too."""

from tests.conftest import _live_server_helper

__all__ = ["_live_server_helper"]
