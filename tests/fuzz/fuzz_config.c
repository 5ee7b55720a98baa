/* fuzz_config: lib/config.c on arbitrary bytes through lm_config_parse. A parse that succeeds
 * must leave the struct consistent with the checks config.h promises (a text-only config: no
 * motion fields set). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lm_config c;
	lm_status st;
	if (lm_config_parse(&c, (const char *)data, size, "fuzz.json", &st))
		return 0;
	if (c.num_attention_heads % c.num_key_value_heads || c.head_dim % 2 || c.n_eos < 0 || c.n_eos > LM_MAX_EOS)
		abort();
	if (!c.has_motion) /* a text-only Llama: the motion fields stay zero */
		return c.latent_dim || c.feature_dim || c.t2m_template[0] ? (abort(), 0) : 0;
	if (c.feature_dim != 8 + 12 * c.n_joints || c.downsample != 1 << c.vae_down_t ||
	    c.bom_token_id >= c.vocab_size || c.eom_token_id >= c.vocab_size ||
	    !memchr(c.t2m_template, 0, LM_TEMPLATE_MAX) || !strstr(c.t2m_template, "{prompt}") ||
	    !strstr(c.m2t_template, "{motion}"))
		abort();
	return 0;
}
