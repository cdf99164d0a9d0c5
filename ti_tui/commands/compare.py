"""generate and xy: trying the word, and comparing checkpoints in a grid."""

import argparse
import sys
import time
from pathlib import Path

from ti_tui.commands import quoted

AXES_HELP = 'AXIS=VALUES: step=250,500,1000 | step=all | step=suggested | cfg=4-10 (+3) | seed=1-4 | model=a.safetensors,b.safetensors | sampler=Euler a,DDIM | steps=10,20 | prompt=photo,painting | strength=0.5-1.5 [3]; "" = none'


def add_commands(commands) -> None:
    generate = commands.add_parser("generate", help="render a prompt with the embedding, on the project's model or another")
    generate.add_argument("project", type=Path, help="the project")
    generate.add_argument("prompt", help='the prompt; [name] becomes the word, such as "a photo of [name] in the snow"')
    generate.add_argument("--model", default="", help="another model of the same base: a .safetensors/.ckpt file or a diffusers folder")
    which = generate.add_mutually_exclusive_group()
    which.add_argument("--step", type=int, help="the checkpoint at this step (default: the one chosen in Compare, else the last)")
    which.add_argument("--embedding", type=Path, metavar="FILE", help="any embedding file instead of a checkpoint")
    generate.add_argument("--run", help="the run whose checkpoints to use (default: the chosen one, else the newest)")
    generate.add_argument("--negative", default="", help="the negative prompt")
    generate.add_argument(
        "--seed", type=int, help="the first image's seed, 0 to 4294967295; the next ones count on from it (default: xy.seed)"
    )
    generate.add_argument("--cfg", type=float, help="CFG scale (default: xy.cfg_scale)")
    generate.add_argument("--steps", type=int, help="sampling steps (default: xy.sampling_steps)")
    generate.add_argument("--sampler", help='such as "Euler a", "DPM++ 2M Karras", DDIM, UniPC (default: xy.sampler)')
    generate.add_argument("-n", type=int, default=1, dest="count", help="how many images (default 1)")
    generate.add_argument("--size", type=int, default=0, help="image side in pixels (default: the model's own)")
    generate.add_argument("--strength", type=float, default=1.0, help="scale the embedding's vectors (default 1)")
    generate.set_defaults(handler=generate_images)

    xy = commands.add_parser("xy", help="compare checkpoints, CFG scales, models ... in a labelled grid")
    xy.add_argument("project", nargs="?", type=Path, default=Path("."), help="the project (default: this folder)")
    xy.add_argument("--x", help=f"the axis across (default: xy.x); {AXES_HELP}")
    xy.add_argument("--y", help="the axis down (default: xy.y)")
    xy.add_argument("--z", help="one grid per value (default: xy.z)")
    xy.add_argument("--run", help="the run whose checkpoints to compare (default: the newest)")
    xy.add_argument("--detach", action="store_true", help="start the renderer and return at once")
    xy.add_argument("--stop", action="store_true", help="stop the grid being rendered")
    xy.set_defaults(handler=render_grid)


def generate_images(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.generate import GenerationRequest, generate_images

    project = Project.open(arguments.project)
    request = GenerationRequest(
        prompt=arguments.prompt,
        model=arguments.model,
        step=arguments.step,
        embedding=arguments.embedding,
        run=arguments.run,
        negative_prompt=arguments.negative,
        seed=arguments.seed,
        cfg_scale=arguments.cfg,
        sampling_steps=arguments.steps,
        sampler=arguments.sampler,
        count=arguments.count,
        size=arguments.size,
        strength=arguments.strength,
    )
    generate_images(project, request, on_image=lambda path: print(f"Wrote {path}", flush=True))
    return 0


def render_grid(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases.compare import plan_grid, start_grid, stop_active_grid

    project = Project.open(arguments.project)
    if arguments.stop:
        grid = stop_active_grid(project)
        print(f"Asked grid {grid.id} to stop after the cell it is rendering")
        return 0
    plan = plan_grid(project, arguments.x, arguments.y, arguments.z, arguments.run)
    grid, process = start_grid(project, plan)
    shape = " x ".join(f"{len(axis.labels)} {axis.name}" for axis in plan.axes.values()) or "1 cell"
    print(f"Grid {grid.id}: {shape}, {len(plan.cells)} cells of run {plan.run}")
    if arguments.detach:
        print(f"It renders in the background (process {process.pid}); stop it with `ti-tui xy {quoted(project.root)} --stop`")
        return 0
    try:
        return _follow(grid, process)
    except KeyboardInterrupt:
        print(f"\nStopped watching; the grid goes on. Stop it with: ti-tui xy {quoted(project.root)} --stop")
        return 130


def _follow(grid, process) -> int:
    from ti_tui.runs.events import FINAL_EVENT, RunWatcher
    from ti_tui.usecases.compare import grid_status

    watcher = RunWatcher(grid.events_file)
    interactive = sys.stdout.isatty()
    while True:
        process.poll()  # a finished renderer must not linger as a zombie that looks alive
        for event in watcher.poll():
            kind = event["type"]
            if kind == "started" and event.get("reused"):
                print(f"{event['reused']} cells reused from earlier grids")
            elif kind == "loading":
                print(f"Loading {event['model']}")
            elif kind == "cell" and interactive:
                print(f"\rcell {event['done']} of {event['total']}\x1b[K", end="", flush=True)
            elif kind == "cell" and event["done"] == event["total"]:
                print(f"cell {event['done']} of {event['total']}")
            elif kind == "grid":
                print(("\n" if interactive else "") + f"Wrote {event['path']}")
            elif kind == "error":
                print(event["message"], file=sys.stderr)
            elif kind == FINAL_EVENT:
                print(f"Grid {grid.id} {event['reason']}: {event['message']}")
                return 0 if event["reason"] == "completed" else 1
        status = grid_status(grid)
        if status.state == "lost":
            print(f"Grid {grid.id} lost: {status.message}", file=sys.stderr)
            return 1
        time.sleep(0.2)
