"""One router per resource of the sharing API (persons, entities, verify, holders, batch, ...)."""
