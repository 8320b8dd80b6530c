"""Survey rounds: creating them and moving them through their states (lifecycle), the dossier
counts per unit x service area that weight them (the weighting frame), and what the console
shows while they run (monitoring, operating figures for ``flask stats``).
"""
