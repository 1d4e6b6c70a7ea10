"""Actors: thin imperative shells (one file each) around the pure core."""
