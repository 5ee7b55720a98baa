"""make_tokenizer.py: trains the small byte-level BPE tokenizers of the test and default models.

    /usr/bin/python3 make_tokenizer.py --vocab 512 --out ../tests/golden/tiny/tokenizer.json
    /usr/bin/python3 make_tokenizer.py --vocab 4096 --out tokenizer-4096.json

The corpus is generated here from a fixed seed: caption-like sentences written from the
Bandai-Namco dataset labels (10 contents x 7 styles, many phrasings) plus general English made
from a word list, so the same command always gives the same tokenizer.json (checked by
test_ref.py). Layout = the Llama 3 tokenizer.json (../shared/tokenizer/llama3/README.md):
pre_tokenizer Sequence[Split(Llama 3 regex, Isolated), ByteLevel(add_prefix_space false,
use_regex false)], BPE with ignore_merges, ByteLevel decoder, post_processor ByteLevel +
TemplateProcessing(<|begin_of_text|> $A). The special tokens come first: ids 0..4 =
<|begin_of_text|>, <|end_of_text|>, <|begin_of_motion|>, <|end_of_motion|>, <|eot_id|>.
"""
import argparse
import json
import random

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|begin_of_motion|>", "<|end_of_motion|>",
	    "<|eot_id|>"]
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
		r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CONTENTS = {
	"walk": ["walks", "walks forward", "walks straight ahead", "takes a walk", "strolls forward",
		 "walks a few steps", "is walking"],
	"walk-turn-left": ["walks and turns left", "walks forward, then turns to the left",
			   "turns left while walking", "walks in a curve to the left", "makes a left turn"],
	"walk-turn-right": ["walks and turns right", "walks forward, then turns to the right",
			    "turns right while walking", "walks in a curve to the right", "makes a right turn"],
	"run": ["runs", "runs forward", "jogs ahead", "is running", "sprints a short distance",
		"runs straight ahead"],
	"wave-both-hands": ["waves both hands", "waves with both arms", "waves both hands in the air",
			    "greets someone with both hands"],
	"wave-left-hand": ["waves the left hand", "waves with the left hand", "waves hello with the left arm",
			   "lifts the left hand and waves"],
	"wave-right-hand": ["waves the right hand", "waves with the right hand", "waves hello with the right arm",
			    "lifts the right hand and waves"],
	"raise-up-both-hands": ["raises both hands", "raises both arms up", "lifts both hands above the head",
				"puts both hands up"],
	"raise-up-left-hand": ["raises the left hand", "raises the left arm up", "lifts the left hand above the head",
			       "puts the left hand up"],
	"raise-up-right-hand": ["raises the right hand", "raises the right arm up",
				"lifts the right hand above the head", "puts the right hand up"],
}
STYLES = {
	"active": ["an active", "an energetic", "a lively", "a vigorous"],
	"elderly": ["an elderly", "an old", "an aged", "a frail old"],
	"exhausted": ["an exhausted", "a tired", "a weary", "a worn out"],
	"feminine": ["a feminine", "a graceful", "an elegant", "a delicate"],
	"masculine": ["a masculine", "a strong", "a sturdy", "a broad"],
	"normal": ["a", "a normal", "an ordinary", "a regular"],
	"youthful": ["a youthful", "a young", "a cheerful young", "a playful"],
}
STYLE_ADVERBS = {
	"active": ["energetically", "actively", "briskly"],
	"elderly": ["slowly", "carefully", "stiffly"],
	"exhausted": ["tiredly", "wearily", "sluggishly"],
	"feminine": ["gracefully", "elegantly", "softly"],
	"masculine": ["firmly", "boldly", "heavily"],
	"normal": ["normally", "calmly", "steadily"],
	"youthful": ["cheerfully", "playfully", "lightly"],
}
PEOPLE = ["person", "man", "woman", "figure", "character", "actor", "dancer", "human", "someone"]

WORDS = """
the of and to in is was it for on with as he she they we you that this be at by from or an are
not but have has had were which one all their there been if more when will would who so no out up
about into than them can only other new some could time these two may then do first any my now
such like our over man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little state good very make
world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three
himself few house use during without again place around however home small found thought went say
part once general high upon school every fact does left number hand course water almost end hands
light across through toward towards above below behind beside near far along inside outside
morning evening night afternoon today tomorrow yesterday week month season summer winter spring
autumn city town village street road path bridge river mountain forest field garden park beach
ocean lake island valley desert hill room kitchen window door table chair floor wall stairs
building office station market shop library museum theater stadium gym studio stage court track
walk walks walked walking run runs ran running jump jumps jumped jumping turn turns turned turning
wave waves waved waving raise raises raised raising lift lifts lifted lifting step steps stepped
stepping stand stands stood standing sit sits sat sitting kneel kneels knelt kneeling crouch
crouches crouched crouching bend bends bent bending stretch stretches stretched stretching reach
reaches reached reaching push pushes pushed pushing pull pulls pulled pulling throw throws threw
throwing catch catches caught catching kick kicks kicked kicking punch punches punched punching
dance dances danced dancing spin spins spun spinning swing swings swung swinging climb climbs
climbed climbing crawl crawls crawled crawling hop hops hopped hopping skip skips skipped skipping
march marches marched marching stumble stumbles stumbled stumbling limp limps limped limping
sway sways swayed swaying lean leans leaned leaning rotate rotates rotated rotating shake shakes
shook shaking nod nods nodded nodding clap claps clapped clapping point points pointed pointing
salute salutes saluted saluting bow bows bowed bowing stop stops stopped stopping pause pauses
paused pausing rest rests rested resting fall falls fell falling rise rises rose rising
arm arms leg legs foot feet knee knees elbow elbows shoulder shoulders head neck chest back hip
hips waist wrist wrists finger fingers toe toes heel heels body torso spine pelvis ankle ankles
forward backward sideways upward downward clockwise counterclockwise quickly slowly gently
carefully suddenly smoothly steadily loosely tightly proudly nervously happily sadly angrily
calmly lazily eagerly awkwardly confidently casually briskly heavily lightly firmly softly
circle line curve corner square zigzag direction angle distance speed pace rhythm balance weight
motion movement gesture pose posture position stance gait stride sequence pattern action
happy sad angry calm tired excited nervous relaxed confident shy proud careful cautious quick
slow fast strong weak tall short young old heavy light big small large tiny long wide narrow
red blue green yellow black white brown gray orange purple pink bright dark warm cold hot cool
one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred
first second third fourth fifth half quarter double single several few many most all none each
dog cat bird horse child children friend friends teacher student doctor player team family
mother father brother sister baby crowd audience group partner neighbor stranger visitor guest
book ball box bag cup bottle phone camera screen picture music song story game movie letter
apple bread water coffee tea milk food dinner lunch breakfast fruit vegetable cake soup rice
think believe remember forget understand learn teach read write speak listen watch look hear
feel want need like love hate hope wish try begin start finish continue keep leave arrive enter
open close build break carry hold bring send give receive buy sell pay spend save lose win
play sing talk laugh smile cry sleep wake eat drink cook clean wash dress drive ride fly swim
because although while whenever wherever unless until before after since though whether
question answer problem idea reason example result system program computer network data model
language word sentence text caption description animation character skeleton joint frame clip
""".split()

GENERAL_TEMPLATES = [
	"The {adj} {noun} {verb_past} {prep} the {place}.",
	"{Name} {verb_past} {adv} {prep} the {place} in the {time}.",
	"We {verb} to the {place} every {time}, and then we {verb} home.",
	"Why did the {noun} {verb} so {adv}?",
	"It was {num} o'clock when the {noun} finally {verb_past}.",
	"She said: \"I'll {verb} the {noun} tomorrow.\"",
	"They've {verb_past} {num} times since {year}.",
	"The {noun}'s {part} was {adj}, but it didn't {verb}.",
	"In {year}, about {num}% of the {noun}s {verb_past} {adv}.",
	"Please {verb} the {adj} {noun} near the {place}!",
	"You're {adj}; we're {adj} too.",
	"{Name} and {Name2} {verb_past} together, {adv} and without a word.",
]
NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Iris", "Jack",
	 "Kate", "Leo", "Mia", "Noah", "Olivia", "Paul"]


def caption_sentences(rng, n):
	"""Caption-like sentences from the dataset labels."""
	out = []
	keys_c, keys_s = sorted(CONTENTS), sorted(STYLES)
	forms = [
		"{A} {who} {act}.", "{A} {who} {act} {adv}.", "{a} {who} {act}", "{A} {who} {act}, {adv}.",
		"the {who} {act} {adv}", "{A} {who} {act} in a {style} way.", "A {style} motion: someone {act}.",
		"{A} {who} {act} and looks {style}.", "Caption: {a} {who} {act}.", "{act_cap} like {a} {style} {who}.",
	]
	for _ in range(n):
		c, s = rng.choice(keys_c), rng.choice(keys_s)
		act = rng.choice(CONTENTS[c])
		a = rng.choice(STYLES[s])
		f = rng.choice(forms)
		out.append(f.format(A=a[0].upper() + a[1:], a=a, who=rng.choice(PEOPLE), act=act,
				    adv=rng.choice(STYLE_ADVERBS[s]), style=s,
				    act_cap=act[0].upper() + act[1:]))
	return out


def general_sentences(rng, n):
	"""General English from the word list."""
	out = []
	for _ in range(n):
		w = lambda: rng.choice(WORDS)
		t = rng.choice(GENERAL_TEMPLATES)
		out.append(t.format(adj=w(), noun=w(), verb=w(), verb_past=w() + rng.choice(["ed", "", "s"]),
				    prep=rng.choice(["in", "on", "near", "behind", "across", "through", "to"]),
				    place=w(), adv=w() + "ly", time=w(), Name=rng.choice(NAMES),
				    Name2=rng.choice(NAMES), num=rng.randint(0, 999), year=rng.randint(1900, 2030),
				    part=w()))
	# each word alone, capitalized and not, so every word of the list can become a token
	for word in WORDS:
		out.append(f"{word} {word.capitalize()} {word.upper()}, {word}s {word}ing {word}ed")
	return out


def corpus(seed=1234):
	rng = random.Random(seed)
	return caption_sentences(rng, 6000) + general_sentences(rng, 8000)


def build(vocab_size, seed=1234):
	tok = Tokenizer(models.BPE(ignore_merges=True, byte_fallback=False))
	tok.pre_tokenizer = pre_tokenizers.Sequence([
		pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
		pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
	])
	tok.decoder = decoders.ByteLevel()
	trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
				      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=1)
	tok.train_from_iterator(corpus(seed), trainer)
	tok.post_processor = processors.Sequence([
		processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
		processors.TemplateProcessing(single="<|begin_of_text|> $A",
					      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
					      special_tokens=[("<|begin_of_text|>", 0)]),
	])
	return tok


def save(tok, path):
	"""Saves with merges as "left right" strings (as in the Llama 3 file; no token contains a
	space). The special tokens stay in model.vocab too (ids 0..4): Hugging Face assigns an added
	token that is not in the model vocab the next free id whatever its "id" says, so a
	low-id special token must be in both."""
	d = json.loads(tok.to_str())
	d["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in d["model"]["merges"]]
	with open(path, "w", encoding="utf-8") as f:
		json.dump(d, f, indent=1, ensure_ascii=False)
		f.write("\n")


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--vocab", type=int, required=True)
	ap.add_argument("--seed", type=int, default=1234)
	ap.add_argument("--out", required=True)
	a = ap.parse_args()
	save(build(a.vocab, a.seed), a.out)
	print(f"{a.out}: vocab {Tokenizer.from_file(a.out).get_vocab_size()}")


if __name__ == "__main__":
	main()
