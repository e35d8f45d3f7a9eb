"""Writes a grid's results page from its sweep directory or its summary.

  python -m mixer_jax.experiments.report --root=runs/seed --grid=grids/seed.py \
    --out=docs
  python -m mixer_jax.experiments.report \
    --summary=docs/results/seed/runs.json --grid=grids/seed.py --out=docs

What it writes: the package's docstring (mixer_jax/experiments/report/).
"""

import json
import os
import pathlib

from absl import app
from absl import flags

from mixer_jax.experiments.report import grid_spec
from mixer_jax.experiments.report import groups
from mixer_jax.experiments.report import page
from mixer_jax.experiments.report import plots
from mixer_jax.experiments.report import summaries

FLAGS = flags.FLAGS
flags.DEFINE_string('root', None, 'The sweep directory.')
flags.DEFINE_string('summary', None, 'Or: a runs.json the report wrote.')
flags.DEFINE_string('grid', 'grids/small_data.py', 'The sweep\'s grid file.')
flags.DEFINE_string('out', 'docs', 'Where the page and its results_dir go.')


def main(argv):
  del argv
  if bool(FLAGS.root) == bool(FLAGS.summary):
    raise app.UsageError('Pass either --root (a sweep directory) or --summary '
                         '(a runs.json written from one).')
  spec, grid_names = grid_spec.load_grid(FLAGS.grid)
  results_dir = os.path.join(FLAGS.out, spec.results_dir)
  summary_file = pathlib.Path(results_dir, 'runs.json')
  if FLAGS.root:
    runs = summaries.with_recorded_runs(summaries.load_runs(FLAGS.root),
                                        summary_file)
  else:
    runs = json.loads(pathlib.Path(FLAGS.summary).read_text())
  # One sweep directory may hold several grids' runs (grids/seed_queue.py).
  runs = [run for run in runs if run['name'] in grid_names]
  if not runs:
    raise app.UsageError(f'No finished runs of {FLAGS.grid} (*/result.json) '
                         f'under --root={FLAGS.root}; run '
                         f'mixer_jax.experiments.sweep first.')
  grids_dir = os.path.dirname(os.path.abspath(FLAGS.grid))
  runs = summaries.as_defined_today(runs, grids_dir)
  os.makedirs(results_dir, exist_ok=True)
  if FLAGS.root:
    summary_file.write_text(json.dumps(runs, indent=0))
  results = groups.Results.from_runs(
      runs, spec, summaries.load_reference_runs(spec, grids_dir))
  figures = plots.plot(results, results_dir)
  conclusion_file = pathlib.Path(results_dir, 'conclusion.md')
  conclusion = (conclusion_file.read_text() if conclusion_file.exists() else
                f'Not written yet: a person writes it in '
                f'{spec.results_dir}/conclusion.md beside this file, and runs '
                f'the report again.\n')
  markdown = page.results_markdown(results, FLAGS.grid, grid_names, figures,
                                   conclusion)
  with open(os.path.join(FLAGS.out, spec.markdown), 'w') as f:
    f.write(markdown)
  print(markdown)


if __name__ == '__main__':
  app.run(main)
