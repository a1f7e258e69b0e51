"""The live stores, for the commands that answer from them: `carecoord worklist` and `carecoord
claims` without a history file read the configured read models, as the running API does.

On the embedded default (and wherever the API projects the read models itself) the read models
are first brought up to date with the services' stores, as every API query does; where the Kafka
consumers keep them (`CARECOORD_API_INLINE_PROJECTION=0`, or Kafka mode) they are read as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date

from carecoord.api.readmodel import ReadSide
from carecoord.bootstrap import Services
from carecoord.config import ConfigError, Settings, inline_projection, service_store_file
from events import SERVICE_NAMES


def require_recorded(settings: Settings) -> None:
    """Refuse (ConfigError) an embedded data folder where nothing was ever recorded: reading it
    would create empty stores there and answer "0 items" for a mistyped CARECOORD_DATA."""
    if settings.postgres:
        return
    if not any(service_store_file(name, settings).exists() for name in SERVICE_NAMES):
        raise ConfigError(
            f"no stores in {settings.data_dir} (CARECOORD_DATA): nothing has been recorded there "
            "(the demo keeps its stores in var/demo)"
        )


@contextmanager
def live_read_side(settings: Settings) -> Iterator[ReadSide]:
    """The API's read side on `settings`' stores, caught up when it projects them itself."""
    require_recorded(settings)
    with ExitStack() as stack:
        inline = inline_projection() and not settings.kafka_mode
        streams = list(stack.enter_context(Services.from_config(settings))) if inline else []
        read_side = ReadSide(settings, streams, inline=inline, today=date.today)
        stack.callback(read_side.close)
        if not read_side.catch_up():
            raise RuntimeError(f"the read models could not be brought up to date: {read_side.last_error}")
        yield read_side
