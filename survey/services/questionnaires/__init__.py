"""Questionnaire templates and their versions: loading the shipped ones, the rules every version
obeys, editing a draft, cloning, exporting and importing, freezing a version when a round opens,
and the frozen plain-data form the submit path validates answers against.
"""
