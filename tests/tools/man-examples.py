#!/usr/bin/env python3
"""man-examples.py PAGE...: the EXAMPLES sections of man pages as shell scripts, for
tests/man-examples.t. Each no-fill block (.nf to .fi) of a page's EXAMPLES is one example.
Roff escapes are undone (\\- \\e \\& \\\\). In a block with "$ " prompts, "$ " lines are the
commands and the lines after one, up to the next prompt, its expected output ("..." at the end:
more may follow); a block without prompts is all commands. Writes DIR/NN.sh (the commands),
DIR/NN.want (the expected output, when there is one) and DIR/NN.name ("page: first line")."""
import os, re, sys

def unroff(s):
    s = s.replace('\\&', '').replace('\\-', '-').replace('\\e', '\\').replace('\\\\', '\\')
    return s

def blocks(path):
    lines = open(path).read().split('\n')
    inex = False
    cur = None
    for ln in lines:
        if ln.startswith('.SH'):
            inex = ln.split(None, 1)[1].strip('"') in ('EXAMPLES', 'EXAMPLE')
            continue
        if not inex:
            continue
        if ln.startswith('.nf'):
            cur = []
        elif ln.startswith('.fi'):
            if cur:
                yield cur
            cur = None
        elif cur is not None and not ln.startswith('.'):
            cur.append(unroff(ln))

def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    k = 0
    for page in sys.argv[2:]:
        for b in blocks(page):
            k += 1
            base = os.path.join(out, '%02d' % k)
            if any(l.startswith('$ ') for l in b):
                cmds, want = [], []
                for l in b:
                    if l.startswith('$ '):
                        cmds.append(l[2:])
                    else:
                        want.append(l)
                if want:
                    open(base + '.want', 'w').write('\n'.join(want) + '\n')
            else:
                cmds = b
            open(base + '.sh', 'w').write('\n'.join(cmds) + '\n')
            open(base + '.name', 'w').write('%s: %s' % (os.path.basename(page), cmds[0].strip()))
    return 0

sys.exit(main())
