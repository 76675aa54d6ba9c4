"""``hetrec`` command line: wires the subcommands in ``hetrec/_cli/``, nothing else.

Every command turns its options into a stage config, runs the stage and hands the
result to ``hetrec.report``. A :class:`hetrec.HetrecError` becomes one line on stderr
and exit code 1 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import sys

import click

import hetrec
from hetrec import report
from hetrec._cli import COMMANDS
from hetrec.trainer.distributed import env_rank


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(hetrec.__version__, prog_name="hetrec")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def hetrec_cli(ctx: click.Context, debug: bool) -> None:
    """Relation-aware GNN recommendation on DGL heterographs.

    data -> build-graph -> pretrain -> finetune -> evaluate -> recommend; `run` does them all from a pipeline file.
    """
    ctx.obj = {"debug": debug}


for _command in COMMANDS:
    hetrec_cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    rank = env_rank()
    if rank:  # torchrun: rank 0 alone reports; other ranks only say why they failed
        report.out.quiet = report.err.quiet = True
    try:
        hetrec_cli.main(args=argv, prog_name="hetrec", standalone_mode=False)
    except hetrec.HetrecError as e:
        if debug:
            raise
        report.err.quiet = False
        report.error(f"rank {rank}: {e}" if rank and not str(e).startswith("rank ") else str(e))
        sys.exit(1)
    except click.exceptions.Abort:
        report.error("interrupted; nothing was written (any partial output was removed)")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
