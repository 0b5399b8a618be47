"""Named entities: the task and the spaCy pipeline with its CRF component and features."""
