"""Library code of the UCF101 action recognition pipeline.

Stage entry points live in ``stages/`` and stay thin; everything they call lives here.
"""
