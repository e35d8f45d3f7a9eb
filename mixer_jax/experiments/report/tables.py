"""The page's Markdown tables: one row a group of runs, and one a run."""

from mixer_jax.experiments.report import fidelity
from mixer_jax.experiments.report import measures
from mixer_jax.experiments.report import stats


_COLUMNS = ('model', 'train fraction', 'length', 'n seeds', 'parameters',
            'overhead', 'GFLOPs/img', 'final test acc %', 'best test acc %',
            'train − test gap (points)', 'final train loss',
            '− baseline, paired, 95% CI (points)',
            '− hybrid, paired, 95% CI (points)')


def _group_cells(results, key, group):
  """A row of the table: one group of runs."""
  model, fraction, length = key
  final = [measures.final_test_accuracy(r) for r in group]
  best = [measures.best_test_accuracy(r) for r in group]
  gaps = [r['eval']['train_clean_accuracy'] - measures.final_test_accuracy(r)
          for r in group if 'train_clean_accuracy' in r['eval']]
  references = results.spec.baseline_and_hybrid(model)
  params = group[0]['num_params']
  baseline_params = results.num_params(references[0])
  overhead = (f'{100 * (params / baseline_params - 1):+.2f}%'
              if baseline_params else '')
  compared = results.spec.compared_with(model)
  differences = [results.paired(key, reference) if reference in compared
                 else None for reference in references]
  return [results.label(model), f'{fraction:g}', length, str(len(group)),
          f'{params:,}', overhead, f'{group[0]["gflops"]:.3f}',
          stats.mean_std(final), stats.mean_std(best),
          stats.mean_std(gaps) if gaps else 'n/a',
          stats.mean_std([measures.final_train_loss(r) for r in group],
                         scale=1, digits=3),
          *[stats.format_paired(d) if d else '' for d in differences]]


def _published_cells(spec):
  """{(model, fraction, length): a row of the table} of `spec.published`.

  A published hybrid's difference from its published baseline is best epoch
  against best epoch, the figure that such sources give.
  """
  published = spec.published
  rows = fidelity.published_rows(published) if published else {}
  percent = lambda row, field: f'{100 * row[field]:.2f}' if field in row else ''
  cells = {}
  for model, row in rows.items():
    baseline = spec.baseline_and_hybrid(model)[0]
    baseline_row = rows.get(baseline, {}) if baseline != model else {}
    difference = ''
    if 'best_test_accuracy' in baseline_row:
      best = row['best_test_accuracy'] - baseline_row['best_test_accuracy']
      difference = f'{100 * best:+.2f} (best epochs), n=1'
    loss = row.get('final_train_loss')
    cells[model, published['fraction'], published['length']] = [
        f'{model}: {published["label"]}', f'{published["fraction"]:g}',
        published['length'], '1', '', '', '',
        percent(row, 'final_test_accuracy'),
        percent(row, 'best_test_accuracy'), '',
        '' if loss is None else f'{loss:.2f}', difference, '']
  return cells


def _row_order(results, key, rank):
  """Sort key of the tables' rows: per fraction and length, another grid's
  reference groups (rank 0), this grid's (1), the published figures (2)."""
  model, fraction, length = key
  return fraction, length, rank, results.spec.order(model)


def results_table(results):
  """The Markdown table (d): per fraction and length, another grid's reference
  groups, then this grid's, then the published figures."""
  rows = ([(_row_order(results, key, 0), _group_cells(results, key, group))
           for key, group in results.references.items()] +
          [(_row_order(results, key, 1), _group_cells(results, key, group))
           for key, group in results.groups.items()] +
          [(_row_order(results, key, 2), cells)
           for key, cells in _published_cells(results.spec).items()])
  lines = ['| ' + ' | '.join(_COLUMNS) + ' |', '|' + '---|' * len(_COLUMNS)]
  lines += ['| ' + ' | '.join(cells) + ' |'
            for _, cells in sorted(rows, key=lambda row: row[0])]
  return '\n'.join(lines) + '\n'


_RUN_COLUMNS = ('model', 'train fraction', 'length', 'seed',
                'final test acc %', 'best test acc % (when)',
                'final train loss', 'clean train acc %')


def runs_table(results):
  """The Markdown table of every run, another grid's references first, in the
  order of the groups' table, by seed."""
  groups = sorted(
      [(_row_order(results, key, 0), key, group)
       for key, group in results.references.items()] +
      [(_row_order(results, key, 1), key, group)
       for key, group in results.groups.items()],
      key=lambda item: item[0])
  lines = ['| ' + ' | '.join(_RUN_COLUMNS) + ' |',
           '|' + '---|' * len(_RUN_COLUMNS)]
  for _, (model, fraction, length), group in groups:
    for run in sorted(group, key=lambda r: r['seed']):
      best, when = measures.best_evaluation(run)
      clean = run['eval'].get('train_clean_accuracy')
      cells = [results.label(model), f'{fraction:g}', length, str(run['seed']),
               f'{100 * measures.final_test_accuracy(run):.2f}',
               f'{100 * best:.2f} ({when})',
               f'{measures.final_train_loss(run):.3f}',
               'n/a' if clean is None else f'{100 * clean:.2f}']
      lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'
