"""Small checks of text that users and integrations send."""


def is_whole_number(text: str) -> bool:
    """Digits 0-9 only. ``str.isdigit`` also takes "³" and other digits that ``int`` refuses."""
    return text.isascii() and text.isdigit()
