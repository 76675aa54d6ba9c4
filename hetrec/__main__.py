"""``python -m hetrec ...``: the same CLI as the ``hetrec`` command, runnable by ``torchrun -m hetrec ...``.

``torchrun --nproc-per-node 2 -m hetrec finetune ...`` starts one process per rank; see docs/cluster.md.
"""
from cli import main

if __name__ == "__main__":
    main()
