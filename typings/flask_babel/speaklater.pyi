from collections.abc import Callable
from typing import Any

# Not a str subclass at run time, but used as one: WTForms and Jinja call str() on it.
class LazyString(str):
    def __init__(self, func: Callable[..., str], *args: Any, **kwargs: Any) -> None: ...
