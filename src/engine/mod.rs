//! The llama.cpp engine (being written).
