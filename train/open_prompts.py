"""The open-vocabulary prompts of make eval (eval/open-prompts.tsv; issue 11), and their check.

eval/open-prompts.tsv holds prompts for text to motion written without the words of the training
captions (captions.py): synonyms, idioms and indirect descriptions of the 10 contents x 7 styles,
two or more per label pair. No training script reads it; eval.py's section "open" generates motion
from each prompt and judges it with classifier.py.

    load(path=TSV)   -> [(content index, style index, prompt)]   (indices into captions.CONTENTS / STYLES)
    vocabulary()     -> the set of captions.py's words, built from its data structures
    forbidden(text)  -> [(word, vocabulary word)] of a prompt: captions.py words (whole words,
                        case-insensitive) and their simple inflections (walker, older, ...),
                        less ALLOWED (function words and the side words)

    /usr/bin/python3 open_prompts.py --check   # TAP; exits 1 on a failure
"""
import re
import sys
import os

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import captions  # noqa: E402

TSV = os.path.join(HERE, "..", "eval", "open-prompts.tsv")
PAIRS = [(c, s) for c in range(len(captions.CONTENTS)) for s in range(len(captions.STYLES))]
MIN_PER_PAIR = 2

# Words of captions.py's vocabulary a prompt may use: the side words (there is no other way to say
# which hand or which way) and function words (articles, prepositions, conjunctions, pronouns, "is").
SIDES = {"left", "right", "both", "two"}
ALLOWED = SIDES | {"a", "an", "the", "and", "as", "by", "for", "if", "in", "is", "of", "to", "with",
                   "while", "then", "their", "they", "who", "where", "above", "me"}


def _words(text):
    return re.findall(r"[a-z]+", text.lower())


def vocabulary():
    """Every word of captions.py's phrase lists, templates (placeholders left out), label names and
    parse_caption's word sets."""
    v = set()
    phrases = list(captions.SUBJECTS) + list(captions.NEUTRAL_NOUNS) + list(captions.CONTENTS) + list(captions.STYLES)
    for d in (captions.ACTS, captions.ADJS, captions.NOUNS, captions.ADVS):
        for ps in d.values():
            phrases += ps
    for k, forms in captions.VERBS.items():
        phrases += [k, *forms]
    for _, t, _ in captions.all_templates():
        phrases.append(re.sub(r"\{[a-z_]+\}", " ", t))
    for p in phrases:
        v |= set(_words(p))
    v |= set(captions.STYLE_WORDS)
    for name in ("_WAVE", "_RAISE", "_UP", "_LIMB", "_TURNW", "_RUN", "_WALK"):
        v |= set(getattr(captions, name))
    return v


def _forms(w):
    """w and its simple inflections and derivations (walks, walker, running, older, tiredness, ...)."""
    out = {w}
    for suf in ("s", "es", "ed", "d", "ing", "er", "ers", "est", "ly", "ness"):
        out.add(w + suf)
    if len(w) >= 3 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou":
        for suf in ("er", "ers", "ing", "ed", "y"):     # run -> runner, running; jog -> jogger
            out.add(w + w[-1] + suf)
    if w.endswith("e"):                                  # pace -> pacing, pacer
        for suf in ("ing", "er", "ers", "ed", "est"):
            out.add(w[:-1] + suf)
    if w.endswith("y"):                                  # weary -> wearier, wearily, weariness
        for suf in ("ier", "iest", "ily", "ied", "ies", "iness"):
            out.add(w[:-1] + suf)
    return out


_FORBIDDEN = None


def forbidden_words():
    """{word form: the captions.py word it comes from}, ALLOWED left out."""
    global _FORBIDDEN
    if _FORBIDDEN is None:
        _FORBIDDEN = {}
        for w in sorted(vocabulary() - ALLOWED):
            for f in sorted(_forms(w)):
                if f not in ALLOWED:
                    _FORBIDDEN.setdefault(f, w)
    return _FORBIDDEN


def forbidden(text):
    """[(word of text, captions.py word)] for the text's words that captions.py uses (or inflects)."""
    fw = forbidden_words()
    return [(x, fw[x]) for x in _words(text) if x in fw]


def load(path=TSV):
    """[(content index, style index, prompt)] of the file: lines starting with '#' and the column
    header line are skipped."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if parts == ["content", "style", "prompt"]:
                continue
            if len(parts) != 3:
                raise ValueError("%s:%d: %d columns, want 3 (content, style, prompt)" % (path, n, len(parts)))
            c, s, p = parts
            if c not in captions.CONTENTS or s not in captions.STYLES:
                raise ValueError("%s:%d: unknown label %r / %r" % (path, n, c, s))
            out.append((captions.CONTENTS.index(c), captions.STYLES.index(s), p.strip()))
    return out


def check(path=TSV):
    tests = fails = 0

    def ok(cond, msg):
        nonlocal tests, fails
        tests += 1
        fails += not cond
        print(("ok" if cond else "not ok") + " %d - %s" % (tests, msg))
        return cond

    try:
        items = load(path)
    except (OSError, ValueError) as e:
        ok(False, "load %s: %s" % (path, e))
        print("1..%d" % tests)
        return 1
    ok(True, "load: %d prompts from %s" % (len(items), os.path.relpath(path)))
    per = {pair: 0 for pair in PAIRS}
    for c, s, _ in items:
        per[(c, s)] += 1
    short = ["%s/%s (%d)" % (captions.CONTENTS[c], captions.STYLES[s], n) for (c, s), n in per.items() if n < MIN_PER_PAIR]
    ok(not short, "every one of the %d label pairs has >= %d prompts (min %d, max %d)%s" % (
        len(PAIRS), MIN_PER_PAIR, min(per.values()), max(per.values()),
        ": short " + ", ".join(short[:10]) if short else ""))
    seen, dups = set(), []
    for _, _, p in items:
        k = " ".join(_words(p))
        if k in seen:
            dups.append(p)
        seen.add(k)
    ok(not dups, "no duplicate prompts (case and punctuation ignored)%s" % (": " + "; ".join(dups[:5]) if dups else ""))
    v = vocabulary()
    ok(len(v) > 150, "captions.py's vocabulary, built from its lists: %d words (%d allowed: %s)" % (
        len(v), len(v & ALLOWED), " ".join(sorted(v & ALLOWED))))
    whole = [(p, [x for x in _words(p) if x in v and x not in ALLOWED]) for _, _, p in items]
    whole = [(p, ws) for p, ws in whole if ws]
    ok(not whole, "no prompt uses a word of captions.py's vocabulary (whole words, case-insensitive)%s" % (
        "" if not whole else ": %d prompts" % len(whole)))
    for p, ws in whole[:20]:
        print("#   %s: %s" % (", ".join(ws), p))
    infl = [(p, f) for _, _, p in items for f in [forbidden(p)] if f and not any(x in v for x, _ in f)]
    ok(not infl, "no prompt uses an inflection of one (walker, older, tiredness, ...)%s" % (
        "" if not infl else ": %d prompts" % len(infl)))
    for p, f in infl[:20]:
        print("#   %s: %s" % (", ".join("%s (%s)" % x for x in f), p))
    # the side a prompt names agrees with its content: left / right / both for the hand contents and
    # the turns, no side word for walk and run
    bad = []
    for c, s, p in items:
        name = captions.CONTENTS[c]
        want = "both" if "both" in name else "left" if "left" in name else "right" if "right" in name else None
        got = set(_words(p)) & SIDES
        if want is None and got or want is not None and got != {want} and not (want == "both" and got <= {"both", "two"} and got):
            bad.append("%s: %s" % (name, p))
    ok(not bad, "the side each prompt names matches its content%s" % (": " + "; ".join(bad[:5]) if bad else ""))
    normal = captions.STYLES.index("normal")
    styled = [p for c, s, p in items if s == normal and set(_words(p)) & set(captions.STYLE_WORDS)]
    ok(not styled, "the 'normal' prompts carry no style word%s" % (": " + "; ".join(styled) if styled else ""))
    print("1..%d" % tests)
    return fails


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        sys.exit(1 if check() else 0)
    for c, s, p in load():
        print("%s\t%s\t%s" % (captions.CONTENTS[c], captions.STYLES[s], p))
