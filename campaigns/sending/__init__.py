"""The send pipeline: one accept path for every channel (see docs/architecture.md, "The send pipeline").

    validate → audience → suppress → render → measure / price → persist → enqueue

This package's `__init__` stays empty on purpose: `campaigns.sending.channels` (the channel facts,
data only) is imported by low modules such as messaging.events, and importing it must not import
the pipeline. The entry points live in `campaigns.sending.pipeline`.
"""
