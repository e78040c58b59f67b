"""``python -m sandbox.credentials``: shell exports of the sandbox's demo credentials.

For running config.yaml against ``dealbridge sandbox serve``:
``eval "$(python -m sandbox.credentials)"``. These are the simulators' own demo values, not
secrets of any real system.
"""

from __future__ import annotations

import shlex

from sandbox.world import all_credentials


def main() -> None:
    """Print one ``export NAME=value`` line per variable."""
    for name, value in sorted(all_credentials().items()):
        print(f"export {name}={shlex.quote(value)}")  # noqa: T201 - the output is the point


if __name__ == "__main__":
    main()
