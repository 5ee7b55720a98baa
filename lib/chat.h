/* chat.h: a chat model's conversation format, from chat.json in the model directory (written by
 * scripts/import-gguf.py from the model's own Jinja chat template, e.g. ChatML for SmolLM2):
 *
 *   {"turn": "<|im_start|>{role}\n{content}<|im_end|>\n",
 *    "generation_prompt": "<|im_start|>assistant\n",
 *    "default_system": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
 *    "end_of_turn": ["<|im_end|>"]}
 *
 * A conversation of one user message is rendered as the template renders it: the system turn
 * (default_system when none is given and default_system is not empty), the user turn, then the
 * generation prompt. The assistant's reply ends at an end-of-turn token. */
#ifndef LLAMO_CHAT_H
#define LLAMO_CHAT_H
#include <stddef.h>
#include "status.h"

#define LM_CHAT_MAX 1024 /* bytes of each template string */

typedef struct lm_chat {
	char turn[LM_CHAT_MAX];              /* holds {role} and {content}, each once */
	char generation_prompt[LM_CHAT_MAX];
	char default_system[LM_CHAT_MAX];    /* "" when the template adds none */
	char end_of_turn[8][64];             /* token texts */
	int n_end;
} lm_chat;

/* Reads path. Errors: LM_ENOINPUT (cannot open), LM_EDATA (bad JSON with line:column, a missing
 * or mistyped key, a turn without {role} or {content}, a string too long). */
int lm_chat_load(lm_chat *c, const char *path, lm_status *st);
/* The same from len bytes in memory (name is used in messages). */
int lm_chat_parse(lm_chat *c, const char *json, size_t len, const char *name, lm_status *st);
/* The text of a one-message conversation: system (NULL: the default; "": none), then user,
 * then the generation prompt. *text malloc'd. Errors: LM_ENOMEM. */
int lm_chat_render(const lm_chat *c, const char *system, const char *user, char **text, lm_status *st);
#endif
