//! Fetching the known small models (being written).
