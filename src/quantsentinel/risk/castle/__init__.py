"""The risk castle: kill switches outside, then seven walls in sequence (seed 001 §8).

`Castle.evaluate` answers one candidate trade for one tenant with a `Verdict`: approved, or
blocked by the first wall (or kill switch, or bad input) that refused it, with the reason and the
numbers. Adding a wall is one class implementing `Wall` and one line in `default_walls`.
"""
