"""`python tests/nochange.py PATH -- CMD...`: run CMD and fail (exit 1) if it changed, added or removed any file under
PATH. Used by `make test` to check that nbdev-export, nbdev-clean and the README build leave no diff."""
import hashlib, subprocess, sys
from pathlib import Path

def snapshot(p):
    p = Path(p)
    files = [p] if p.is_file() else sorted(f for f in p.rglob('*') if f.is_file() and '__pycache__' not in f.parts)
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}

if __name__ == '__main__':
    sep = sys.argv.index('--')
    paths, cmd = sys.argv[1:sep], sys.argv[sep+1:]
    before = {k: v for p in paths for k, v in snapshot(p).items()}
    subprocess.run(cmd, check=True)
    after = {k: v for p in paths for k, v in snapshot(p).items()}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        sys.exit(f"`{' '.join(cmd)}` changed {len(changed)} file(s): {', '.join(changed)}\n"
                 "Run it, review the result and commit it (notebooks are the source: edit them, then nbdev-export).")
    print(f"ok: `{' '.join(cmd)}` leaves {', '.join(paths)} unchanged")
