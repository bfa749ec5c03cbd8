"""The inbox: verified events stored before Zalo's 200, then answered by the engine in per-citizen order."""
