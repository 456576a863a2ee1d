"""The scheduler/monitor service: engines, health, placement, deploys, events, HTTP API."""
