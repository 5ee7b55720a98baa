/* fuzz_chat: lib/chat.c on arbitrary bytes through lm_chat_parse. A parse that succeeds must give
 * NUL-terminated strings, a turn with {role} and {content}, 1 to 8 end-of-turn texts, and a render
 * that holds the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "chat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lm_chat c;
	lm_status st;
	if (lm_chat_parse(&c, (const char *)data, size, "chat.json", &st))
		return 0;
	if (!memchr(c.turn, 0, LM_CHAT_MAX) || !memchr(c.default_system, 0, LM_CHAT_MAX) ||
	    !strstr(c.turn, "{role}") || !strstr(c.turn, "{content}") || c.n_end < 1 || c.n_end > 8)
		abort();
	char *text;
	if (lm_chat_render(&c, NULL, "MSG", &text, &st))
		return 0;
	if (!strstr(text, "MSG") || !strstr(text, c.generation_prompt))
		abort();
	free(text);
	return 0;
}
