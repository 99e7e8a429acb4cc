/*
 * persona_abi.h — the plugin ABI of Persona: the one contract across dlopen.
 *
 * A plugin is a shared library exporting one C function, `persona_plugin_entry`, that hands the
 * host descriptors of the plugins it contains (one library may hold several plugins). The ABI is
 * plain C so that plugins can be written in Swift (`@_cdecl`, see PersonaPluginKit), C, Rust or
 * anything else that can export a C function. Only the types below cross the boundary.
 *
 * Versioning
 *   - PERSONA_ABI_VERSION changes only on an incompatible change. Compatible changes append fields
 *     at the end of a struct; every extensible struct starts with `struct_size` (its own size as
 *     the writer compiled it), so a reader knows which fields exist: a field at offset O with size S
 *     exists when struct_size >= O + S.
 *   - The host checks, before calling anything but the entry function: the entry symbol exists; the
 *     descriptor is non-NULL; descriptor->abi_version == PERSONA_ABI_VERSION; descriptor->struct_size
 *     is at least the version-1 size (PERSONA_*_V1_SIZE, end of this file); the kind is known; the
 *     kind's function table is non-NULL and its struct_size is at least its version-1 size; every
 *     required function pointer is non-NULL.
 *     A plugin failing any check is refused with a message; nothing of it is called again.
 *   - Plugins should likewise check host->abi_version and host->struct_size in create, and the
 *     struct_size of every struct the host passes in (items, results, streams, pairs) against its
 *     PERSONA_*_V1_SIZE; the host checks the tree requests a plugin passes to tree_logprobs.
 *   - Both sides read and write a struct of the other side only within the struct_size it declared
 *     (persona_struct_read / persona_struct_write, end of this file): a function pointer appended
 *     after the other side's version reads as NULL, and every function pointer of the host table
 *     may be NULL (the plugin then reports PERSONA_ERROR_UNAVAILABLE for that service).
 *
 * Ownership (the general rule; each declaration repeats what applies)
 *   - Everything a plugin hands the host through its descriptor (descriptor, strings, function
 *     tables) is owned by the plugin and must stay valid for the life of the process: the host
 *     never unloads a plugin library (dlopen with RTLD_NODELETE; Swift images cannot be unloaded).
 *   - Every pointer the host passes into a plugin call (strings, items, streams, result structs,
 *     error structs) is owned by the host and valid only for the duration of that call.
 *   - Strings are UTF-8 and NUL-terminated unless a length is given.
 *   - Buffers a host service allocates for the plugin (out-parameters of type `T **`) are owned by
 *     the plugin after the call and must be released with host->free_buffer.
 *
 * Errors
 *   Functions that can fail return an int32_t persona_status (PERSONA_OK = 0) and take a
 *   `persona_error *` that the caller owns and has zeroed; on failure the callee sets `code` (the
 *   same value it returns) and writes a NUL-terminated message (truncated to fit) into `message`.
 *   The same convention holds in both directions (plugin → host and host services → plugin).
 *
 * Threads
 *   The host calls the functions of one plugin context from one thread at a time. Different
 *   contexts may be used concurrently. Host services may be called from any thread, including
 *   threads the plugin starts (the host serializes model work internally).
 */
#ifndef PERSONA_ABI_H
#define PERSONA_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this header describes. */
#define PERSONA_ABI_VERSION 1u

/** Name of the one exported entry function (see persona_plugin_entry_fn). */
#define PERSONA_ENTRY_SYMBOL "persona_plugin_entry"

/** Capacity of persona_error.message, including the terminating NUL. */
#define PERSONA_ERROR_MESSAGE_CAPACITY 1024

/** Capacity of the text fields of judge results, including the terminating NUL. */
#define PERSONA_REASON_CAPACITY 256
#define PERSONA_ALTERNATIVE_TEXT_CAPACITY 64
/** Most alternatives a judge result carries. */
#define PERSONA_MAX_ALTERNATIVES 20

/* ------------------------------------------------------------------------------------------ */
/* Status codes and errors                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum persona_status {
    PERSONA_OK = 0,
    /** An argument was invalid (NULL where not allowed, index out of range, bad token id). */
    PERSONA_ERROR_INVALID_ARGUMENT = 1,
    /** The configuration JSON given to create was malformed or named something that does not exist. */
    PERSONA_ERROR_CONFIGURATION = 2,
    /** A file could not be read or written. */
    PERSONA_ERROR_IO = 3,
    /** A service is not available (e.g. no model loaded in the host, model services unsupported). */
    PERSONA_ERROR_UNAVAILABLE = 4,
    /** A remote service failed (network, HTTP status, malformed reply). */
    PERSONA_ERROR_REMOTE = 5,
    /** Out of memory or another resource. */
    PERSONA_ERROR_RESOURCE = 6,
    /** Anything else. */
    PERSONA_ERROR_INTERNAL = 7
} persona_status;

/** An error: code plus message. Owned by whoever passes it in (it is never heap-allocated by the
 *  callee); the caller zeroes it before the call. */
typedef struct persona_error {
    /** A persona_status value; PERSONA_OK when there is no error. */
    int32_t code;
    /** NUL-terminated UTF-8 message, truncated to fit. */
    char message[PERSONA_ERROR_MESSAGE_CAPACITY];
} persona_error;

/* ------------------------------------------------------------------------------------------ */
/* Host services: what the host offers plugins (passed to create)                              */
/* ------------------------------------------------------------------------------------------ */

typedef enum persona_log_level {
    PERSONA_LOG_DEBUG = 0,
    PERSONA_LOG_INFO = 1,
    PERSONA_LOG_WARNING = 2,
    PERSONA_LOG_ERROR = 3
} persona_log_level;

/** An opaque handle to a model opened through the host services. */
typedef struct persona_model persona_model;

/** One chat message for render_chat. Both strings owned by the caller, valid during the call. */
typedef struct persona_chat_message {
    /** "system", "user" or "assistant". */
    const char *role;
    const char *content;
} persona_chat_message;

/** persona_tree_node.flags: the log-probabilities after this node are wanted. */
#define PERSONA_TREE_NODE_WANT_LOGPROBS 1u

/**
 * One node of a continuation tree (tree_logprobs): a token appended to the prompt or to an earlier
 * node. A fixed layout, never extended (nodes are passed as a plain array): unknown bits of
 * `flags` are reserved and must be zero.
 */
typedef struct persona_tree_node {
    /** The token this node appends. */
    int32_t token;
    /** Index of an earlier node of the same request whose context this node extends (its
     *  parent, < this node's index), or -1 for the end of the prompt. */
    int32_t parent;
    /** PERSONA_TREE_NODE_WANT_LOGPROBS or 0 (the node is then only an ancestor of others). */
    uint32_t flags;
} persona_tree_node;

/**
 * One prompt and the tree of continuations whose next-token distributions are wanted
 * (tree_logprobs). Owned by the caller, valid during the call, like every array and buffer it
 * points to.
 */
typedef struct persona_tree_request {
    /** sizeof(persona_tree_request) as the caller compiled it. */
    uint32_t struct_size;
    /** The prompt: prompt_length >= 1 token ids. */
    const int32_t *prompt;
    size_t prompt_length;
    /** node_count nodes (NULL allowed when node_count is 0), parents before children. */
    const persona_tree_node *nodes;
    size_t node_count;
    /** Caller-provided room for vocab_size floats: the log-softmax after the prompt. */
    float *out_prompt_logprobs;
    /** Caller-provided room for (number of nodes with PERSONA_TREE_NODE_WANT_LOGPROBS) ×
     *  vocab_size floats: the log-softmax after each such node's path, in node order. NULL
     *  allowed when no node wants them. */
    float *out_node_logprobs;
} persona_tree_request;

/**
 * The host-services table. Owned by the host; the pointer given to create stays valid until the
 * context is destroyed (a plugin may keep it in its context). Every function takes `host_context`
 * (the table's own field) as its first argument.
 */
typedef struct persona_host_services {
    /** PERSONA_ABI_VERSION of the host. */
    uint32_t abi_version;
    /** sizeof(persona_host_services) as the host compiled it; fields beyond it do not exist. */
    uint32_t struct_size;
    /** Opaque; pass it back to every function of this table. */
    void *host_context;

    /** Logs a message (UTF-8, copied by the host) at `level` (persona_log_level). Never fails. */
    void (*log)(void *host_context, int32_t level, const char *message);

    /** Releases a buffer that a host service allocated for the plugin (tokens, text, bytes,
     *  ids). NULL is allowed. */
    void (*free_buffer)(void *host_context, void *buffer);

    /**
     * Opens a model for the plugin's use. `name_or_path`: NULL or "" = the model the host has
     * loaded (PERSONA_ERROR_UNAVAILABLE when it has none); otherwise a default model name
     * ("qwen2.5-1.5b"), a GGUF file or a Hugging Face folder. On success *out_model is a handle
     * the plugin must pass to model_release (opening the same model twice gives two handles over
     * one shared, loaded model).
     */
    int32_t (*model_open)(void *host_context, const char *name_or_path, persona_model **out_model, persona_error *error);
    /** Releases a handle from model_open. NULL is allowed. */
    void (*model_release)(void *host_context, persona_model *model);

    /** Number of rows of the model's output (the size of a log-probability vector). */
    int32_t (*model_vocab_size)(void *host_context, persona_model *model, uint32_t *out_size, persona_error *error);

    /**
     * Token ids of `text` (UTF-8, `text_length` bytes, need not be NUL-terminated). Special
     * tokens written in the text become their ids; a BOS token is prepended only when the model
     * asks for it. *out_tokens: host-allocated, release with free_buffer; *out_count its length.
     */
    int32_t (*tokenize)(void *host_context, persona_model *model, const char *text, size_t text_length,
                        int32_t **out_tokens, size_t *out_count, persona_error *error);

    /** Raw bytes of token `token_id` (may be a partial UTF-8 character; special tokens give their
     *  text). *out_bytes: host-allocated, release with free_buffer; *out_length its length. */
    int32_t (*token_bytes)(void *host_context, persona_model *model, int32_t token_id,
                           uint8_t **out_bytes, size_t *out_length, persona_error *error);

    /**
     * The model's own chat template applied to `messages` (count `message_count`), with the
     * assistant generation prompt appended when `add_generation_prompt` is non-zero.
     * *out_text: NUL-terminated, host-allocated, release with free_buffer; *out_length its length
     * in bytes without the NUL. PERSONA_ERROR_UNAVAILABLE when the model has no template.
     */
    int32_t (*render_chat)(void *host_context, persona_model *model, const persona_chat_message *messages,
                           size_t message_count, int32_t add_generation_prompt,
                           char **out_text, size_t *out_length, persona_error *error);

    /** The token ids that end an assistant turn (EOS, <|im_end|>, <|eot_id|> …).
     *  *out_ids: host-allocated, release with free_buffer; *out_count its length. */
    int32_t (*end_of_turn_tokens)(void *host_context, persona_model *model,
                                  int32_t **out_ids, size_t *out_count, persona_error *error);

    /**
     * Next-token log-probabilities for a batch: for each of `sequence_count` token sequences
     * (sequences[i] has lengths[i] >= 1 ids; both arrays owned by the caller), the log-softmax of
     * the logits at its last position, over the full vocabulary. The caller provides
     * `out_logprobs` with room for sequence_count × vocab_size floats, row i for sequence i.
     * The host keeps the KV caches of recent sequences and extends the longest cached prefix of
     * each, so scoring many continuations of one prompt costs little beyond the prompt itself.
     */
    int32_t (*next_token_logprobs)(void *host_context, persona_model *model,
                                   const int32_t *const *sequences, const size_t *lengths, size_t sequence_count,
                                   float *out_logprobs, persona_error *error);

    /* ---- appended after the first draft of version 1; check struct_size before use ---- */

    /**
     * What identifies the model: a JSON object {"name", "path", "fingerprint", "architecture",
     * "layers", "hidden_size", "vocab_size", "arithmetic"} ("fingerprint" changes when the model
     * file does; "arithmetic" is "exact" or "fast", the arithmetic its results come from, absent
     * from hosts older than it; use both in cache identities). *out_json: NUL-terminated, host-allocated, release with
     * free_buffer; *out_length its length without the NUL.
     */
    int32_t (*model_describe)(void *host_context, persona_model *model, char **out_json, size_t *out_length, persona_error *error);

    /* ---- appended for batched judging (a compatible addition to ABI 1); check struct_size before use ---- */

    /**
     * Next-token log-probabilities after prompts and after trees of continuations of them, for
     * `request_count` requests (requests: an array of pointers owned by the caller; each request
     * and everything it points to is owned by the caller and valid during the call; the host
     * checks each request's struct_size). For request r the host writes the log-softmax after
     * its prompt into r->out_prompt_logprobs and, for every node with
     * PERSONA_TREE_NODE_WANT_LOGPROBS in node order, the log-softmax after the prompt followed
     * by the node's path (root first) into the next vocab_size floats of r->out_node_logprobs.
     * The host computes all requests in one forward pass: every prompt extends its longest
     * cached prefix (and is kept for later calls, as next_token_logprobs keeps it), and the nodes
     * read the prompt's cache without copying it. Results equal next_token_logprobs of the same
     * token sequences to float32 rounding. Nothing is allocated for the caller. On failure
     * nothing written is meaningful.
     */
    int32_t (*tree_logprobs)(void *host_context, persona_model *model, const persona_tree_request *const *requests,
                             size_t request_count, persona_error *error);
} persona_host_services;

/* ------------------------------------------------------------------------------------------ */
/* Autorater plugins                                                                          */
/* ------------------------------------------------------------------------------------------ */

/** One thing to judge. Owned by the host, valid during the score call. */
typedef struct persona_judge_item {
    /** sizeof(persona_judge_item) as the host compiled it. */
    uint32_t struct_size;
    const char *question;
    const char *answer;
    /** The eval prompt with `{question}` and `{answer}` placeholders (not yet filled). */
    const char *eval_prompt;
    /** The eval prompt with the placeholders filled by the host (each replaced once, answer last):
     *  plugins should send this text so that every autorater fills prompts the same way. */
    const char *rendered_prompt;
} persona_judge_item;

/** One alternative answer of the judge: a number, "REFUSAL" or another token's text. */
typedef struct persona_judge_alternative {
    char text[PERSONA_ALTERNATIVE_TEXT_CAPACITY];
    double probability;
} persona_judge_alternative;

/**
 * A verdict, written by the plugin into a struct the host owns (allocated and zeroed by the host,
 * struct_size set by the host). The plugin writes only fields that exist under struct_size.
 */
typedef struct persona_judge_result {
    /** sizeof(persona_judge_result) as the host compiled it (set by the host). */
    uint32_t struct_size;
    /** Non-zero when `score` holds a score. */
    int32_t has_score;
    /** 0–100 when has_score. */
    double score;
    /** Probability mass the judge put on the integers 0–100. */
    double number_mass;
    /** Why there is no score (when has_score is 0); NUL-terminated, truncated to fit. */
    char no_score_reason[PERSONA_REASON_CAPACITY];
    /** Number of valid entries in `alternatives` (<= PERSONA_MAX_ALTERNATIVES), best first. */
    uint32_t alternative_count;
    persona_judge_alternative alternatives[PERSONA_MAX_ALTERNATIVES];
} persona_judge_result;

/** Progress callback for score: `done` items have finished. Called from any thread. */
typedef void (*persona_progress_fn)(void *progress_context, size_t done);

typedef struct persona_autorater_functions {
    /** sizeof(persona_autorater_functions) as the plugin compiled it. */
    uint32_t struct_size;
    /**
     * Scores `count` items (items[i], results[i]: arrays of pointers owned by the host, valid
     * during the call). Results come back in item order. A failure of one item is a result with
     * has_score = 0 and a reason; a return value other than PERSONA_OK (with `error` filled)
     * means the whole batch failed (bad configuration, 401, unknown model). The plugin may work
     * on items concurrently or in batches. `progress` may be NULL.
     */
    int32_t (*score)(void *context, const persona_judge_item *const *items, persona_judge_result *const *results,
                     size_t count, persona_progress_fn progress, void *progress_context, persona_error *error);
    /**
     * What identifies this judge for caching: plugin name, version, model and configuration
     * without secrets. A change must mean different scores may come back. The string is owned by
     * the plugin and valid until destroy.
     */
    const char *(*identity)(void *context);
} persona_autorater_functions;

/* ------------------------------------------------------------------------------------------ */
/* Hook plugins                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef enum persona_pass_kind {
    /** The sequence has several tokens in this pass (a prompt). */
    PERSONA_PASS_PREFILL = 0,
    /** The sequence has one token in this pass (a decode step). */
    PERSONA_PASS_DECODE = 1
} persona_pass_kind;

/** The rows of one sequence inside a pass. */
typedef struct persona_sequence_span {
    /** The caller's identifier for the sequence (stable across the passes of one generation). */
    int64_t sequence_id;
    /** First row of this sequence in the stream's matrix. */
    uint32_t first_row;
    /** Number of rows (tokens) this sequence has in the pass. */
    uint32_t row_count;
    /** Absolute position (0-based) of the first row in the sequence. */
    uint64_t start_position;
    /** persona_pass_kind of this sequence's part of the pass. */
    int32_t pass_kind;
} persona_sequence_span;

/**
 * The residual stream after decoder block `layer` (0-based; layer L is the output of block L,
 * before the final norm — Hugging Face hidden_states[L+1]). Owned by the host, valid during the
 * process call.
 */
typedef struct persona_residual_stream {
    /** sizeof(persona_residual_stream) as the host compiled it. */
    uint32_t struct_size;
    int32_t layer;
    uint32_t hidden_size;
    uint32_t row_count;
    /** Row-major [row_count, hidden_size] floats, one row per new token of the pass. Mutable: the
     *  plugin may change them and later blocks see the change. */
    float *data;
    /** One span per sequence in the pass, in batch order (ragged; no padding rows). */
    const persona_sequence_span *spans;
    uint32_t span_count;
    /** sizeof(persona_sequence_span) as the host compiled it: the stride of `spans`. */
    uint32_t span_struct_size;
} persona_residual_stream;

typedef struct persona_hook_functions {
    /** sizeof(persona_hook_functions) as the plugin compiled it. */
    uint32_t struct_size;
    /**
     * The layers this hook wants. Writes up to `capacity` layer indices into `out_layers` (owned
     * by the host) and returns how many layers it wants (if more than capacity, the host calls
     * again with a larger buffer). Returns -1 for "every layer". Called once, after create.
     */
    int32_t (*layers)(void *context, int32_t *out_layers, uint32_t capacity);
    /** Reads and/or modifies the stream. A status other than PERSONA_OK aborts the forward pass
     *  with the error's message. */
    int32_t (*process)(void *context, const persona_residual_stream *stream, persona_error *error);
} persona_hook_functions;

/* ------------------------------------------------------------------------------------------ */
/* Trait-pack plugins                                                                         */
/* ------------------------------------------------------------------------------------------ */

/** One candidate pair for a pack's filter. Owned by the host, valid during the filter call. */
typedef struct persona_candidate_pair {
    /** sizeof(persona_candidate_pair) as the host compiled it. */
    uint32_t struct_size;
    const char *question;
    int32_t instruction_index;
    int32_t sample_index;
    const char *positive_answer;
    const char *negative_answer;
    /** has_* = 0 means the answer has no score (the value is then 0 and meaningless). */
    int32_t has_positive_trait;
    double positive_trait;
    int32_t has_negative_trait;
    double negative_trait;
    int32_t has_positive_coherence;
    double positive_coherence;
    int32_t has_negative_coherence;
    double negative_coherence;
} persona_candidate_pair;

typedef struct persona_trait_pack_functions {
    /** sizeof(persona_trait_pack_functions) as the plugin compiled it. */
    uint32_t struct_size;
    /** The pack's data as JSON in the pack.json schema (see TraitPack.swift). Owned by the plugin,
     *  valid until destroy. Required. */
    const char *(*pack_json)(void *context);
    /** Number of custom filters (0 when the pack has none). Required. */
    uint32_t (*filter_count)(void *context);
    /** Name of filter `index` ("no-refusals"); owned by the plugin, valid until destroy. NULL
     *  allowed when filter_count always returns 0. */
    const char *(*filter_name)(void *context, uint32_t index);
    /**
     * Runs filter `index` on `pair`: sets *out_drop to 0 to keep the pair, 1 to drop it and then
     * writes why into `reason` (host-owned buffer of `reason_capacity` bytes, NUL-terminated,
     * truncated to fit). NULL allowed when filter_count always returns 0.
     */
    int32_t (*filter)(void *context, uint32_t index, const persona_candidate_pair *pair,
                      int32_t *out_drop, char *reason, size_t reason_capacity, persona_error *error);
} persona_trait_pack_functions;

/* ------------------------------------------------------------------------------------------ */
/* The descriptor and the entry point                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef enum persona_plugin_kind {
    PERSONA_KIND_AUTORATER = 1,
    PERSONA_KIND_HOOK = 2,
    PERSONA_KIND_TRAIT_PACK = 3
} persona_plugin_kind;

struct persona_plugin_descriptor;

/**
 * Creates a plugin instance. `descriptor` is the descriptor being instantiated (so that one
 * create function can serve several plugins); `host` is the host-services table (see its
 * lifetime above); `config_json` is the user's configuration as a JSON object ("{}" when none;
 * owned by the host, valid during the call). On success the plugin stores an opaque context in
 * *out_context (owned by the plugin, released by destroy) and returns PERSONA_OK; on failure it
 * returns a status and fills `error`, and must not leave anything for the host to destroy.
 */
typedef int32_t (*persona_create_fn)(const struct persona_plugin_descriptor *descriptor,
                                     const persona_host_services *host, const char *config_json,
                                     void **out_context, persona_error *error);

/** Destroys a context from create. Called exactly once per successful create. */
typedef void (*persona_destroy_fn)(void *context);

/** What a plugin tells the host about itself. Owned by the plugin, valid for the process. */
typedef struct persona_plugin_descriptor {
    /** PERSONA_ABI_VERSION the plugin was compiled against. */
    uint32_t abi_version;
    /** sizeof(persona_plugin_descriptor) as the plugin compiled it. */
    uint32_t struct_size;
    /** Unique name, [a-z0-9_-]+ ("local-judge", "projection-probe", "evil"). */
    const char *name;
    /** The plugin's own version ("1.0.0"). */
    const char *version;
    /** persona_plugin_kind. */
    int32_t kind;
    /** One line saying what it does. */
    const char *description;
    persona_create_fn create;
    persona_destroy_fn destroy;
    /** The kind's function table: persona_autorater_functions, persona_hook_functions or
     *  persona_trait_pack_functions (each starting with its own struct_size). */
    const void *functions;
} persona_plugin_descriptor;

/**
 * The entry function every plugin library exports under the name PERSONA_ENTRY_SYMBOL. Returns
 * the descriptor of the library's plugin number `index` (0, 1, …) and NULL past the last one. The
 * host passes its own PERSONA_ABI_VERSION; a plugin may return NULL for index 0 when it cannot
 * serve that version (the host then refuses the library as offering no plugin). Must not fail
 * otherwise and must be cheap (no model loading, no I/O).
 */
typedef const persona_plugin_descriptor *(*persona_plugin_entry_fn)(uint32_t host_abi_version, uint32_t index);

/* ------------------------------------------------------------------------------------------ */
/* Frozen version-1 sizes                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * The sizes of the extensible structs as version 1 published them (64-bit targets). A reader
 * accepts any struct_size >= the V1 size and reads only the bytes within the struct_size the
 * writer declared: a field appended later reads as absent (zero) from an older writer, and a
 * newer writer's extra bytes are ignored. These constants never change.
 *
 * To append a field to one of these structs: add it after the last field (never in between),
 * document it as "appended; check struct_size before use", and leave the constant and its
 * assertions below as they are (the assertions name the last version-1 field, so they keep
 * holding). A reader of the new field checks struct_size >= offsetof(new field) + its size.
 */
#define PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE 64u
#define PERSONA_HOST_SERVICES_V1_SIZE 104u
#define PERSONA_AUTORATER_FUNCTIONS_V1_SIZE 24u
#define PERSONA_HOOK_FUNCTIONS_V1_SIZE 24u
#define PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE 40u
#define PERSONA_TREE_REQUEST_V1_SIZE 56u
#define PERSONA_JUDGE_ITEM_V1_SIZE 40u
#define PERSONA_JUDGE_RESULT_V1_SIZE 1728u
#define PERSONA_RESIDUAL_STREAM_V1_SIZE 40u
/** persona_sequence_span is read with the stride residual_stream.span_struct_size; the version-1
 *  fields end at pass_kind (the size without its trailing padding). */
#define PERSONA_SEQUENCE_SPAN_V1_SIZE 28u
#define PERSONA_CANDIDATE_PAIR_V1_SIZE 104u

#ifdef __cplusplus
#define PERSONA_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define PERSONA_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif
#define PERSONA_V1_END(type, last_field) (offsetof(type, last_field) + sizeof(((type *)0)->last_field))

PERSONA_STATIC_ASSERT(sizeof(void *) == 8, "the version-1 sizes are those of 64-bit targets");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_plugin_descriptor, functions) == PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE,
                      "persona_plugin_descriptor: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_host_services, model_describe) == PERSONA_HOST_SERVICES_V1_SIZE,
                      "persona_host_services: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_autorater_functions, identity) == PERSONA_AUTORATER_FUNCTIONS_V1_SIZE,
                      "persona_autorater_functions: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_hook_functions, process) == PERSONA_HOOK_FUNCTIONS_V1_SIZE,
                      "persona_hook_functions: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_trait_pack_functions, filter) == PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE,
                      "persona_trait_pack_functions: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_tree_request, out_node_logprobs) == PERSONA_TREE_REQUEST_V1_SIZE,
                      "persona_tree_request: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_judge_item, rendered_prompt) == PERSONA_JUDGE_ITEM_V1_SIZE,
                      "persona_judge_item: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_judge_result, alternatives) == PERSONA_JUDGE_RESULT_V1_SIZE,
                      "persona_judge_result: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_residual_stream, span_struct_size) == PERSONA_RESIDUAL_STREAM_V1_SIZE,
                      "persona_residual_stream: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_sequence_span, pass_kind) == PERSONA_SEQUENCE_SPAN_V1_SIZE,
                      "persona_sequence_span: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(PERSONA_V1_END(persona_candidate_pair, negative_coherence) == PERSONA_CANDIDATE_PAIR_V1_SIZE,
                      "persona_candidate_pair: a version-1 field moved or changed size");
PERSONA_STATIC_ASSERT(sizeof(persona_tree_request) >= PERSONA_TREE_REQUEST_V1_SIZE &&
                      sizeof(persona_judge_item) >= PERSONA_JUDGE_ITEM_V1_SIZE &&
                      sizeof(persona_judge_result) >= PERSONA_JUDGE_RESULT_V1_SIZE &&
                      sizeof(persona_residual_stream) >= PERSONA_RESIDUAL_STREAM_V1_SIZE &&
                      sizeof(persona_candidate_pair) >= PERSONA_CANDIDATE_PAIR_V1_SIZE,
                      "a struct is smaller than its version-1 size");
PERSONA_STATIC_ASSERT(sizeof(persona_plugin_descriptor) >= PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE &&
                      sizeof(persona_host_services) >= PERSONA_HOST_SERVICES_V1_SIZE &&
                      sizeof(persona_autorater_functions) >= PERSONA_AUTORATER_FUNCTIONS_V1_SIZE &&
                      sizeof(persona_hook_functions) >= PERSONA_HOOK_FUNCTIONS_V1_SIZE &&
                      sizeof(persona_trait_pack_functions) >= PERSONA_TRAIT_PACK_FUNCTIONS_V1_SIZE,
                      "a struct is smaller than its version-1 size");

/* ------------------------------------------------------------------------------------------ */
/* Reading and writing a struct the other side declared                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * The one size rule, for the host and for plugins alike (static inline: each side compiles its
 * own copy of these few lines from this header; no code of one side is linked into the other).
 * A side never touches bytes of the other side's struct past the struct_size it declared, even
 * to copy them: an older writer's struct may end at the end of a mapped page.
 */

/** Non-zero when a struct declaring `declared_size` bytes holds every version-1 field
 *  (`v1_size`: one of the PERSONA_*_V1_SIZE constants above). Larger sizes (newer writers) are
 *  accepted; their extra bytes are ignored. */
static inline int persona_struct_size_accepted(uint32_t declared_size, uint32_t v1_size) {
    return declared_size >= v1_size;
}

/** Non-zero when the field at `field_offset` of `field_size` bytes exists in a struct declaring
 *  `declared_size` bytes (for fields appended after version 1). */
static inline int persona_struct_has_field(uint32_t declared_size, size_t field_offset, size_t field_size) {
    return field_offset <= declared_size && field_size <= (size_t)declared_size - field_offset;
}

/** Copies a struct the other side wrote (`source`, declaring `declared_size` bytes) into the
 *  reader's own `destination` of `destination_size` bytes: only min(declared, destination) bytes
 *  are read, and the fields past them are zeroed (absent). */
static inline void persona_struct_read(void *destination, size_t destination_size, const void *source, uint32_t declared_size) {
    size_t count = declared_size < destination_size ? (size_t)declared_size : destination_size;
    memcpy(destination, source, count);
    if (count < destination_size) memset((char *)destination + count, 0, destination_size - count);
}

/** Writes the writer's `source` (`source_size` bytes, its own compiled size) into a struct the
 *  other side owns and declared as `declared_size` bytes: only min(declared, source) bytes are
 *  written, so a field the owner does not know is never written into memory it does not have.
 *  The destination's own struct_size (its first 4 bytes) is kept as the owner set it. */
static inline void persona_struct_write(void *destination, uint32_t declared_size, const void *source, size_t source_size) {
    size_t count = declared_size < source_size ? (size_t)declared_size : source_size;
    if (count > sizeof(uint32_t)) memcpy((char *)destination + sizeof(uint32_t), (const char *)source + sizeof(uint32_t), count - sizeof(uint32_t));
}

/** A uint32_t field of a struct the other side wrote (its struct_size, or abi_version), read
 *  without reading anything else of it. `offset`: 0 for struct_size in most structs; in
 *  persona_plugin_descriptor and persona_host_services abi_version is at 0 and struct_size at 4. */
static inline uint32_t persona_struct_read_u32(const void *source, size_t offset) {
    uint32_t value;
    memcpy(&value, (const char *)source + offset, sizeof value);
    return value;
}

#ifdef __cplusplus
}
#endif

#endif /* PERSONA_ABI_H */
