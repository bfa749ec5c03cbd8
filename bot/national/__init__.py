"""The national tier: portal procedure records imported into an index beside the curated catalog."""
from bot.national.loader import NationalIndexError, load_national
from bot.national.records import Channel, NationalIndex, NationalRecord

__all__ = ["Channel", "NationalIndex", "NationalIndexError", "NationalRecord", "load_national"]
