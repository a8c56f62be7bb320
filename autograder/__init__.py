"""Instructor tooling for the ResNet Course: release generation, example submissions,
parallel and safe autograding with nbgrader (``python -m autograder --help``)."""
