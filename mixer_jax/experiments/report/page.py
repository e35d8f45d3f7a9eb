"""The results page (d): provenance, differences in words, tables, figures."""

import collections
import textwrap

from mixer_jax.experiments import archive as run_archive
from mixer_jax.experiments.report import fidelity
from mixer_jax.experiments.report import measures
from mixer_jax.experiments.report import stats
from mixer_jax.experiments.report import tables


def unfinished(runs, grid_names):
  """Names of the grid's runs that have no result yet."""
  done = {r['name'] for r in runs}
  return [name for name in grid_names if name not in done]


def machine_spans(run):
  """'steps 1-X on A; X+1- on B', for a run whose recorded starts (sweep.py)
  name more than one machine, or begin after step 0, else None.

  A run resumes bit for bit only on the CPU model it began on (XLA's kernels
  differ in the last bits between models), so such a run is said to be one.
  """
  spans = []
  for start in run.get('starts', []):
    if not spans or spans[-1][1] != start['machine']:
      spans.append((start['step'], start['machine']))
  if not spans or (len(spans) == 1 and spans[0][0] == 0):
    return None
  if spans[0][0]:
    spans.insert(0, (0, 'not recorded'))
  ends = [f'{step:,}' for step, _ in spans[1:]] + ['the end']
  return '; '.join(f'steps {step + 1:,}–{end} on {machine}'
                   for (step, machine), end in zip(spans, ends))


def _provenance(results, grid_names):
  """Where the runs trained, when, and which are missing or borrowed."""
  runs = results.runs
  machines = collections.Counter(r.get('machine', 'not recorded')
                                 for r in runs)
  lines = [f'- {n} run(s) on: {machine}.'
           for machine, n in sorted(machines.items())]
  dates = sorted({r.get('finished', '?') for r in runs})
  when = (f'on {dates[0]}' if len(dates) == 1 else
          f'between {dates[0]} and {dates[-1]}')
  missing = unfinished(runs, grid_names)
  lines.append(f'- Runs finished {when}; {len(runs)} of\n'
               f'  {len(runs) + len(missing)} runs of the grid are done.')
  archive = results.spec.archive
  stopped = {name: state for name in missing if archive and (
      state := run_archive.manifest(archive, name)) and state['step']}
  if stopped:
    lines.append(f'- Stopped partway, to resume from `{archive}`: ' + ', '.join(
        f'{name} at step {state["step"]:,} (archived {state["archived"]})'
        for name, state in stopped.items()) + '.')
  if not_started := [name for name in missing if name not in stopped]:
    lines.append(f'- Not run yet: {", ".join(not_started)}.')
  lines += [f'- {r["name"]} trained on more than one machine: {spans}.'
            for r in runs if (spans := machine_spans(r))]
  other = results.spec.references_from
  if other:
    lines.append(
        f'- {", ".join(other["models"])} against {other["baseline"]} and '
        f'{other["hybrid"]} of another grid, from its summary '
        f'`{other["summary"]}` ({sum(map(len, results.references.values()))} '
        f'runs trained alike, paired by seed).')
  return '\n'.join(lines) + '\n'


def differences_in_words(results):
  """Each of this grid's models' paired differences from its baseline and,
  but for the hybrid, from its hybrid, per training fraction and length."""
  lines = []
  for key in results.groups:
    model, fraction, length = key
    for reference in results.spec.compared_with(model):
      paired = results.paired(key, reference)
      if not paired:
        continue
      mean, low, high, n = paired
      if n == 1:
        interval = 'on the one paired seed (no interval with n=1)'
      else:
        excludes_zero = 'excludes' if low > 0 or high < 0 else 'includes'
        interval = (f'95% CI [{100 * low:+.2f}, {100 * high:+.2f}] over n={n} '
                    f'paired seeds (the interval {excludes_zero} zero)')
      # The seed's own claim is in best-epoch accuracy.
      best = results.paired(key, reference, measures.best_test_accuracy)
      lines.append(f'- {measures.of_train(fraction)}, {length}: {model} − '
                   f'{results.label(reference)} = {100 * mean:+.2f} points of '
                   f'final test accuracy, {interval}; best epoch: '
                   f'{stats.format_paired(best)}.')
  return '\n'.join(lines) + '\n' if lines else 'No paired runs yet.\n'


def _schedule_by_step_alone(runs):
  """Whether all `runs` take one learning rate schedule that depends on the
  step alone (the cosine wave), not on the run's length."""
  schedules = {(c.optimizer.schedule, c.optimizer.learning_rate,
                c.optimizer.get('cosine_wave_t_max'))
               for c in map(measures.run_config, runs)}
  return len(schedules) == 1 and next(iter(schedules))[0] == 'cosine_wave'


def matched_steps_in_words(results):
  """Each paired difference on a subset of train, beside the same pair on all
  of train at its evaluation nearest the subset's last step.

  With the same number of epochs, a subset also trains fewer steps; this
  tells the two apart where the full-data runs have evaluations that early.
  """
  lines = []
  for key in results.groups:
    model, fraction, length = key
    if fraction == 1:
      continue
    for reference in results.spec.compared_with(model):
      small = results.paired(key, reference)
      full_key = (model, 1.0, length)
      full = results.group(full_key)
      full_reference = results.group((reference, 1.0, length))
      if not (small and full and full_reference):
        continue
      steps = results.group(key)[0]['scalars']['test_accuracy'][-1][0]
      step = min((point[0] for point in full[0]['scalars']['test_accuracy']),
                 key=lambda s: abs(s - steps))
      matched = results.paired(full_key, reference,
                               measures.accuracy_at_step(step))
      rates = ('the same learning rates by step: the schedule depends on the '
               'step alone'
               if _schedule_by_step_alone(
                   [*results.group(key), *full, *full_reference])
               else 'other learning rates: the schedule follows the run')
      lines.append(
          f'- {model} − {results.label(reference)}, {length}: '
          f'{measures.of_train(fraction)} after {steps:,} steps: '
          f'{stats.format_paired(small)}; '
          f'all of train at step {step:,} ({rates}): '
          f'{stats.format_paired(matched)}; '
          f'all of train at the end: '
          f'{stats.format_paired(results.paired(full_key, reference))}.')
  return '\n'.join(lines) + '\n' if lines else ''


def results_markdown(results, grid_file, grid_names, figures, conclusion):
  """The page (d): provenance, the table, the figures, the conclusion."""
  spec = results.spec
  data, data_note = results.data
  data_sentence = textwrap.fill(
      f'do not edit by hand. All accuracies are on **{data}**: {data_note}',
      width=76)
  summary = f'docs/{spec.results_dir}/runs.json'
  published = (f'\n{spec.published["source"]}\n' if spec.published else '')
  archive = f'--archive={spec.archive} ' if spec.archive else ''
  curves = ''
  if spec.published and 'curves' in spec.published:
    curves_intro = (
        f"This grid's runs of {', '.join(spec.published['curves'])} on "
        f"{measures.of_train(spec.published['fraction'])}, "
        f"{spec.published['length']}, against {spec.published['label']}: "
        f"test accuracy after each epoch, and the epoch's mean training loss "
        f"(here: the mean of the logging intervals that end in it, each "
        f"weighted by the steps it averages; a resumed run's first interval "
        f"holds only the steps since the resume).")
    curves = f"""
## Against the published runs, epoch by epoch

{curves_intro}

{fidelity.against_published_in_words(results)}"""
  matched = matched_steps_in_words(results)
  if matched:
    matched = f"""
## Less data, or fewer steps?

With the same number of epochs, a subset of train is also trained for fewer
steps. Final test accuracy, paired by seed, on the subset; on all of train at
its evaluation nearest the subset's last step; and on all of train at the end:

{matched}"""
  images = '\n'.join(f'![{alt}]({spec.results_dir}/{file_name})\n'
                     for alt, file_name in figures) or 'None yet.\n'
  return f"""# {spec.title}

Generated by `python -m mixer_jax.experiments.report` from the runs of `{grid_file}`;
{data_sentence}

```bash
python -m mixer_jax.experiments.sweep --grid={grid_file} --root={spec.root} \\
  {archive}--set=tfds_data_dir=../shared/data/tfds
# on 2 cores: two such workers, prefixed `taskset -c 0` and `taskset -c 1`
python -m mixer_jax.experiments.report --root={spec.root} --grid={grid_file} \\
  --out=docs
# or, from the committed summary of those runs:
python -m mixer_jax.experiments.report --summary={summary} \\
  --grid={grid_file} --out=docs
```

{_provenance(results, grid_names)}

## Paired differences

{differences_in_words(results)}{matched}{curves}
## Table

Final: after the last epoch. Best: the highest test accuracy over the run's
evaluations, which peeks at the test set and is optimistic. Train − test gap:
accuracy on 2,000 of the run's own training images without augmentation,
minus test accuracy, at the end (higher: more overfitting). Final train loss:
the last epoch's mean training loss on augmented batches, as published runs
give it (here: the mean of the logging intervals that end in that epoch,
weighted by their steps, or the last interval where one is longer than an
epoch). − baseline, − hybrid:
the model's final test accuracy minus its baseline's or hybrid's, trained
alike, paired by seed: the same training subset and data order for both
models.
{published}
{tables.results_table(results)}
## Each run

The table's groups, run by run. Clean train acc: accuracy at the end on the
run's first `train_clean_size` training images, without augmentation.

{tables.runs_table(results)}
## Figures

{images}
## Conclusion

{conclusion}
"""
