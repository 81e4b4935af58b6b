//! Capture of hidden states from the llama.cpp graph (being written).
