"""How the Qt apps end: no task is left to be stepped after the loop has stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

# A task waiting on a queue that is woken just as the app's main returns: qasync steps it
# once more after its loop stopped, with no running loop, unless ``run_qt`` settles it first.
_APP = textwrap.dedent(
    """
    import asyncio
    from companion.ui.common import run_qt

    seen = []

    async def main(app):
        queue = asyncio.Queue()

        async def reader():
            try:
                while True:
                    await queue.get()
            finally:
                seen.append(asyncio.get_running_loop() is not None)

        asyncio.ensure_future(reader())
        await asyncio.sleep(0)
        queue.put_nowait(1)
        return 0

    code = run_qt(main)
    print("finally ran in the loop:", seen)
    raise SystemExit(code)
    """
)


def test_tasks_still_running_at_exit_are_cancelled_inside_the_running_loop() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", _APP], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "finally ran in the loop: [True]" in done.stdout, done.stdout + done.stderr
    assert "different event loop" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
