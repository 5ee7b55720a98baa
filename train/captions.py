"""Captions for the Bandai-Namco clips, written from their labels (content, style).

The dataset has no free text, so the captions are generated: a template (the phrasing) is
filled with a verb phrase for the content and a subject, adjective or adverb phrase for the
style, each drawn from a list of synonyms. Some templates are HELD_OUT: never used for training,
only by the evaluation, to test that prompts phrased differently from the training captions
work.

    caption(content, style, rng, split="train")   -> str   (split "heldout" uses the held-out templates)
    eval_prompts(content, style)                  -> [str] (fixed: 2 training phrasings + every held-out one)
    parse_caption(text)                           -> (content index or None, style index or None)
    all_templates()                               -> [(name, template, split)]

content and style are indices into dataset.CONTENTS / dataset.STYLES or their names.
parse_caption reads a caption back into labels (for scoring motion to text): it recognises the
synonyms used here; a caption naming a content but no style word means the "normal" style
(the training captions of normal clips often say just "a person walks").

    /usr/bin/python3 captions.py        # self-check, prints TAP and a few samples
"""
import random
import re

CONTENTS = ["walk", "walk-turn-left", "walk-turn-right", "run", "wave-both-hands", "wave-left-hand",
	    "wave-right-hand", "raise-up-both-hands", "raise-up-left-hand", "raise-up-right-hand"]
STYLES = ["active", "elderly", "exhausted", "feminine", "masculine", "normal", "youthful"]

# Verb phrases in the third person singular; the gerund and base forms are derived by VERBS.
_TURN = ["walks and turns {side}", "walks, then turns to the {side}", "turns {side} while walking",
	 "walks and veers {side}", "veers to the {side} while walking", "walks in a curve to the {side}",
	 "walks forward and makes a {side} turn", "makes a {side} turn while walking",
	 "walks forward and turns {side}", "walks, turning to the {side}", "strolls and turns {side}"]
_WAVE1 = ["waves the {side} hand", "waves with the {side} hand", "waves the {side} arm",
	  "waves hello with the {side} hand", "waves goodbye with the {side} hand",
	  "waves using the {side} hand", "waves their {side} hand", "lifts the {side} hand and waves",
	  "waves with the {side} arm", "gives a wave with the {side} hand"]
_RAISE1 = ["raises the {side} hand", "raises the {side} arm", "lifts the {side} arm",
	   "lifts the {side} hand above the head", "puts the {side} hand up", "raises the {side} hand up high",
	   "holds the {side} hand up", "reaches up with the {side} hand", "raises their {side} arm",
	   "lifts the {side} hand up"]
ACTS = {
	"walk": ["walks", "walks forward", "walks straight ahead", "strolls", "strolls forward",
		 "takes a walk", "walks a few steps", "walks in a straight line", "goes for a walk",
		 "ambles along", "walks along", "paces forward"],
	"walk-turn-left": [t.format(side="left") for t in _TURN],
	"walk-turn-right": [t.format(side="right") for t in _TURN],
	"run": ["runs", "runs forward", "jogs", "jogs forward", "sprints", "runs straight ahead",
		"goes for a run", "dashes forward", "runs a short distance", "jogs along", "sprints ahead"],
	"wave-both-hands": ["waves both hands", "waves with both hands", "waves both arms",
			    "waves with both arms", "waves both hands in the air", "waves hello with both hands",
			    "waves goodbye with both hands", "greets someone by waving both hands",
			    "waves with two hands", "gives a wave with both hands"],
	"wave-left-hand": [t.format(side="left") for t in _WAVE1],
	"wave-right-hand": [t.format(side="right") for t in _WAVE1],
	"raise-up-both-hands": ["raises both hands", "raises both arms", "lifts both arms",
				"lifts both hands above the head", "puts both hands up", "raises both hands up high",
				"raises both arms overhead", "holds both hands up", "throws both arms up",
				"reaches up with both hands"],
	"raise-up-left-hand": [t.format(side="left") for t in _RAISE1],
	"raise-up-right-hand": [t.format(side="right") for t in _RAISE1],
}
# 3sg -> (gerund, base)
VERBS = {"walks": ("walking", "walk"), "strolls": ("strolling", "stroll"), "takes": ("taking", "take"),
	 "goes": ("going", "go"), "ambles": ("ambling", "amble"), "paces": ("pacing", "pace"),
	 "turns": ("turning", "turn"), "veers": ("veering", "veer"), "makes": ("making", "make"),
	 "runs": ("running", "run"), "jogs": ("jogging", "jog"), "sprints": ("sprinting", "sprint"),
	 "dashes": ("dashing", "dash"), "waves": ("waving", "wave"), "greets": ("greeting", "greet"),
	 "lifts": ("lifting", "lift"), "raises": ("raising", "raise"), "puts": ("putting", "put"),
	 "holds": ("holding", "hold"), "throws": ("throwing", "throw"), "reaches": ("reaching", "reach"),
	 "gives": ("giving", "give")}

# Style: adjectives (bare), subject noun phrases, adverb phrases.
ADJS = {
	"active": ["active", "energetic", "lively", "vigorous", "dynamic", "peppy", "spirited"],
	"elderly": ["elderly", "old", "aged", "frail old", "senior"],
	"exhausted": ["exhausted", "tired", "worn out", "weary", "fatigued", "drained", "tired out"],
	"feminine": ["feminine", "ladylike", "womanly", "graceful", "dainty"],
	"masculine": ["masculine", "manly", "macho", "burly", "rugged"],
	"normal": ["normal", "neutral", "ordinary", "regular", "average", "typical"],
	"youthful": ["youthful", "young", "childlike", "teenage", "youthful-looking"],
}
NOUNS = {  # subjects that carry the style themselves
	"active": ["an energetic athlete", "a lively person", "an active person", "a vigorous athlete"],
	"elderly": ["an elderly person", "a senior", "an old man", "an old woman", "a senior citizen",
		    "an old person", "a grandpa", "a grandma", "an elderly man", "an elderly woman"],
	"exhausted": ["an exhausted person", "a tired man", "a tired woman", "a worn out person"],
	"feminine": ["a feminine person", "a graceful woman", "a ladylike woman"],
	"masculine": ["a masculine person", "a macho man", "a manly man", "a burly man"],
	"normal": ["a person", "someone", "a man", "a woman", "somebody"],
	"youthful": ["a young person", "a kid", "a child", "a teenager", "a youngster"],
}
ADVS = {
	"active": ["energetically", "actively", "vigorously", "briskly", "with lots of energy",
		   "full of energy", "in a lively way", "dynamically", "in an active way"],
	"elderly": ["like an old man", "like an elderly person", "in an elderly way", "in an aged manner",
		    "like a senior", "the way an old person would", "like an old woman"],
	"exhausted": ["tiredly", "wearily", "in an exhausted way", "as if exhausted", "with fatigue",
		      "like someone worn out", "sluggishly", "tired"],
	"feminine": ["in a feminine way", "in a feminine manner", "gracefully", "daintily",
		     "in a ladylike way", "femininely", "in a womanly way"],
	"masculine": ["in a masculine way", "in a manly way", "like a macho man", "with a masculine swagger",
		      "in a macho manner", "masculinely", "in a manly manner"],
	"normal": ["normally", "in a normal way", "in an ordinary manner", "as usual", "neutrally",
		   "in a neutral way", "in a plain way", "in a typical way"],
	"youthful": ["youthfully", "in a youthful way", "like a kid", "like a young person",
		     "like a teenager", "in a youthful manner", "like a child"],
}
SUBJECTS = ["a person", "someone", "a man", "a woman", "the person", "a character", "somebody",
	    "a figure", "the man", "the woman"]
NEUTRAL_NOUNS = ["person", "man", "woman", "character", "figure"]

# Templates. {subj}: a styled subject ("an old man", "a tired person"); {nsubj}: a neutral
# subject; {adj}: bare adjective; {a_adj}: with its article; {adv}: adverb phrase;
# {act} / {ing} / {base}: the content as 3sg / gerund / base verb phrase.
TEMPLATES = [
	("subj-act", "{subj} {act}"),
	("nsubj-act-adv", "{nsubj} {act} {adv}"),
	("adv-nsubj-act", "{adv}, {nsubj} {act}"),
	("ing-adv", "{ing} {adv}"),
	("subj-ing", "{subj} {ing}"),
	("nsubj-act-comma-adv", "{nsubj} {act}, {adv}"),
	("subj-is-ing", "{subj} is {ing}"),
	("motion-of", "a motion of {subj} {ing}"),
	("base-adv", "{base} {adv}"),
	("who-looks", "{nsubj} who looks {adj} {act}"),
	("style-colon", "{nsubj} {act}; style: {adj}"),
	("adj-colon-ing", "{adj}: {ing}"),
	("the-adj-noun", "the {adj} {noun} {act}"),
	("as-would", "{nsubj} {act} as {subj} would"),
	("ing-style", "{ing} in {a_adj} style"),
	("manner", "{nsubj} {act} in {a_adj} manner"),
	("a-adj-noun", "{a_adj} {noun} {act}"),
	("adj-noun-ing", "{a_adj} {noun} {ing}"),
	("here", "here, {subj} {act}"),
	("animation", "animation of {a_adj} {noun} who {act}"),
	("subj-act-adv", "{subj} {act} {adv}"),
	("mocap", "motion capture: {subj} {act}"),
]
HELD_OUT = [
	("show-me", "show me {subj} {ing}"),
	("they-look", "{nsubj} {act}. they look {adj}"),
	("ing-paren", "{ing} ({adj})"),
	("clip-where", "a clip where {a_adj} {noun} {act}"),
]

_ARTICLE_AN = re.compile(r"^[aeiou]")


def _article(phrase):
	return ("an " if _ARTICLE_AN.match(phrase) else "a ") + phrase


def _convert(act, form):
	"""act (3sg phrase) -> gerund (form 0) or base (form 1) phrase."""
	return re.sub(r"[a-z]+", lambda m: VERBS[m.group(0)][form] if m.group(0) in VERBS else m.group(0), act)


def _index(x, names):
	return names.index(x) if isinstance(x, str) else int(x)


def _fill(template, c, s, rng):
	act = rng.choice(ACTS[c])
	adj = rng.choice(ADJS[s])
	noun = rng.choice(NEUTRAL_NOUNS)
	if s == "normal" and rng.random() < 0.3:
		a_adj = "a"   # "a man walks": no style word means normal
	else:
		a_adj = _article(adj)
	subj = rng.choice(NOUNS[s] + [_article(adj) + " " + n for n in NEUTRAL_NOUNS])
	t = template.format(subj=subj, nsubj=rng.choice(SUBJECTS), adj=adj, a_adj=a_adj,
			    adv=rng.choice(ADVS[s]), act=act, ing=_convert(act, 0), base=_convert(act, 1),
			    noun=noun)
	t = re.sub(r"\ba ([aeiou])", r"an \1", t)
	t = re.sub(r"\ban ([^aeiou\W])", r"a \1", t)
	t = t.replace("a a ", "a ")
	if rng.random() < 0.5:
		t = t[0].upper() + t[1:]
	if rng.random() < 0.4:
		t += "."
	return t


def caption(content, style, rng, split="train"):
	"""One random caption of the pair; rng: a random.Random. split "train" draws from
	TEMPLATES, "heldout" from HELD_OUT."""
	c = CONTENTS[_index(content, CONTENTS)]
	s = STYLES[_index(style, STYLES)]
	_, t = rng.choice(TEMPLATES if split == "train" else HELD_OUT)
	return _fill(t, c, s, rng)


def all_templates():
	"""[(name, template, "train" | "heldout")]"""
	return [(n, t, "train") for n, t in TEMPLATES] + [(n, t, "heldout") for n, t in HELD_OUT]


def eval_prompts(content, style):
	"""Fixed prompts of the pair for evaluation: two training phrasings ("subj-act", then a
	random one) and one of each held-out template. Deterministic."""
	ci, si = _index(content, CONTENTS), _index(style, STYLES)
	rng = random.Random(1000 + 10 * si + ci)
	c, s = CONTENTS[ci], STYLES[si]
	out = [_fill(TEMPLATES[0][1], c, s, rng), _fill(rng.choice(TEMPLATES[1:])[1], c, s, rng)]
	out += [_fill(t, c, s, rng) for _, t in HELD_OUT]
	return out


_STYLE_WORDS = {
	"active": "active actively energetic energetically energy lively vigorous vigorously brisk briskly "
		  "dynamic dynamically peppy spirited athlete",
	"elderly": "elderly old aged senior seniors grandpa grandma grandfather grandmother frail pensioner",
	"exhausted": "exhausted tired tiredly weary wearily worn fatigue fatigued drained sluggish sluggishly "
		     "exhaustion",
	"feminine": "feminine femininely ladylike womanly graceful gracefully dainty daintily",
	"masculine": "masculine masculinely manly macho burly rugged swagger",
	"normal": "normal normally neutral neutrally ordinary regular average typical usual plain",
	"youthful": "youthful youthfully young kid child childlike teenager teen teenage youngster juvenile youth",
}
STYLE_WORDS = {w: STYLES.index(s) for s, ws in _STYLE_WORDS.items() for w in ws.split()}
_WAVE = {"wave", "waves", "waving", "waved"}
_RAISE = {"raise", "raises", "raising", "raised", "lift", "lifts", "lifting", "lifted", "hoist",
	  "hoists", "hoisting"}
_UP = {"up", "overhead", "air"}
_LIMB = {"hand", "hands", "arm", "arms"}
_TURNW = {"turn", "turns", "turning", "turned", "veer", "veers", "veering", "curve", "curves",
	  "curving", "swerve", "swerves", "swerving", "direction"}
_RUN = {"run", "runs", "running", "ran", "jog", "jogs", "jogging", "sprint", "sprints", "sprinting",
	"dash", "dashes", "dashing"}
_WALK = {"walk", "walks", "walking", "walked", "stroll", "strolls", "strolling", "amble", "ambles",
	 "ambling", "pace", "paces", "pacing", "steps"}


def parse_caption(text):
	"""(content index or None, style index or None) named by a caption (see the module doc).
	Content: wave > raise > turn > run > walk, with the side from left / right / both; style:
	the first style word, "normal" when a content is found without one."""
	w = re.findall(r"[a-z]+", text.lower())
	ws = set(w)
	side = "both" if ws & {"both", "two"} else "left" if "left" in ws else "right" if "right" in ws else None
	c = None
	if ws & _WAVE:
		c = {"both": "wave-both-hands", "left": "wave-left-hand", "right": "wave-right-hand"}.get(side)
	elif ws & _RAISE or (ws & _UP and ws & _LIMB):
		c = {"both": "raise-up-both-hands", "left": "raise-up-left-hand",
		     "right": "raise-up-right-hand"}.get(side)
	elif ws & _TURNW and side in ("left", "right"):
		c = "walk-turn-" + side
	elif ws & _RUN:
		c = "run"
	elif ws & _WALK:
		c = "walk"
	s = next((STYLE_WORDS[x] for x in w if x in STYLE_WORDS), None)
	ci = CONTENTS.index(c) if c else None
	if s is None and ci is not None:
		s = STYLES.index("normal")
	return ci, s


def main():
	import sys
	rng = random.Random(7)
	tests, fails = 0, 0

	def ok(cond, msg):
		nonlocal tests, fails
		tests += 1
		fails += not cond
		print(("ok" if cond else "not ok") + " %d - %s" % (tests, msg))

	distinct = min(len({caption(c, s, rng) for _ in range(400)})
		       for c in range(len(CONTENTS)) for s in range(len(STYLES)))
	ok(distinct >= 20, "every pair yields >= 20 distinct training captions (min %d of 400 draws)" % distinct)
	for split in ("train", "heldout"):
		n, good = 0, 0
		bad = []
		for c in range(len(CONTENTS)):
			for s in range(len(STYLES)):
				for _ in range(200):
					t = caption(c, s, rng, split)
					n += 1
					if parse_caption(t) == (c, s):
						good += 1
					elif len(bad) < 5:
						bad.append((t, CONTENTS[c], STYLES[s], parse_caption(t)))
		ok(good >= 0.99 * n, "parse_caption recovers %d/%d %s captions" % (good, n, split))
		for b in bad:
			print("# ", b)
	ev = [(c, s, p) for c in range(10) for s in range(7) for p in eval_prompts(c, s)]
	ok(all(parse_caption(p) == (c, s) for c, s, p in ev), "parse_caption recovers all %d eval prompts" % len(ev))
	ok(eval_prompts(3, 1) == eval_prompts("run", "elderly"), "eval_prompts is deterministic")
	train_set = {caption(c, s, rng) for c in range(10) for s in range(7) for _ in range(300)}
	ho = [p for c in range(10) for s in range(7) for p in eval_prompts(c, s)[2:]]
	ok(sum(p in train_set for p in ho) == 0, "held-out eval prompts never occur among training captions")
	print("1..%d" % tests)
	for c, s in [(6, 1), (1, 2), (7, 6)]:
		print("# %s/%s: %s" % (CONTENTS[c], STYLES[s], " | ".join(caption(c, s, rng) for _ in range(4))))
		print("#   eval: %s" % " | ".join(eval_prompts(c, s)))
	sys.exit(1 if fails else 0)


if __name__ == "__main__":
	main()
