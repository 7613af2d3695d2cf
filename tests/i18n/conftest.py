from __future__ import annotations

from collections.abc import Iterator

import pytest

from companion import i18n


@pytest.fixture
def spanish() -> Iterator[None]:
    """This process speaks Spanish for one test, then English again."""
    assert i18n.set_language("es") == "es"
    try:
        yield
    finally:
        i18n.set_language(i18n.SOURCE_LANGUAGE)
