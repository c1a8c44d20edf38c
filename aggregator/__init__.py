"""govkz-feeds: republishes gov.kz press releases as subscribable feeds."""

__version__ = "0.1.0"
