"""A streaming worker in its own process (killed and restarted by the tests).

``python -m tests.streaming.worker_proc BOOTSTRAP TOPIC GROUP SQLITE [DELAY_S]``
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dasedge.streaming.runtime import WindowSpec, run_worker
from tests.streaming.helpers import SqliteSink, window_row


class CountState(dict):
    """A dict subclass: the runtime must restore it with its type."""


def main() -> None:
    bootstrap, topic, group, db = sys.argv[1:5]
    delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0

    def process(w, state):
        time.sleep(delay)  # slow worker, so the test can kill it mid-stream
        if not isinstance(state, CountState):
            raise TypeError(f"state restored as {type(state).__name__}, not CountState")
        return window_row(w, state)

    run_worker(bootstrap, topic, group, process, SqliteSink(Path(db)), WindowSpec(length_s=1.0, step_s=0.5),
               state=CountState, max_poll_records=2)


if __name__ == "__main__":
    main()
