// The two layer-input functions of llama.cpp's staging header `src/llama-ext.h` have C++
// linkage and are not in llama-cpp-sys-2's bindings. These `extern "C"` forwarders give them a
// C ABI; build.rs compiles this file against the headers vendored in the pinned sys crate, so
// the declarations (and their C++ name mangling) are exactly the ones the library was built with.
#include "llama-ext.h"

extern "C" {

void swift_bon_set_embeddings_layer_inp(struct llama_context * ctx, uint32_t il, bool value) {
    llama_set_embeddings_layer_inp(ctx, il, value);
}

float * swift_bon_get_embeddings_layer_inp(struct llama_context * ctx, uint32_t il) {
    return llama_get_embeddings_layer_inp(ctx, il);
}

}
