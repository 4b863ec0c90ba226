"""A CustomLogger that configs under test name in ``litellm_settings.callbacks``."""

from litellm.integrations.custom_logger import CustomLogger


class CountingLogger(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.successes = 0

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # type: ignore[no-untyped-def]
        self.successes += 1


counter = CountingLogger()
