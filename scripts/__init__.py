"""Project scripts (build, test, demo, batch, bench) and the local Meshy-compatible server package."""
