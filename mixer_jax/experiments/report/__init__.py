r"""Reads a sweep's runs and writes its results page, figures and tables.

Each grid has its own page; the grid file says what goes on it (grid_spec.py):

  # The seed's experiment (issue 18): docs/RESULTS.md and docs/results/seed/.
  python -m mixer_jax.experiments.report --root=runs/seed --grid=grids/seed.py \
    --out=docs
  # The small-data grid (issue 7): docs/RESULTS_small_data.md and
  # docs/results/small_data/.
  python -m mixer_jax.experiments.report --root=runs/small_data \
    --grid=grids/small_data.py --out=docs
  # The seed's experiment on CIFAR-100 (issue 39), from the same directory:
  # docs/RESULTS_cifar100.md and docs/results/seed_cifar100/.
  python -m mixer_jax.experiments.report --root=runs/seed \
    --grid=grids/seed_cifar100.py --out=docs

reads every finished run's result.json and TensorBoard logs under --root and
writes a summary of them, <results_dir>/runs.json, small enough to commit; the
runs of an earlier summary there that --root lacks are kept in it.
From that summary alone (`--summary=docs/results/small_data/runs.json` instead
of --root, to regenerate without the runs) it writes, under --out,

(a) <results_dir>/loss_curves.png: training and validation (else test) loss
    of the baseline, the hybrid and the stem;
(b) <results_dir>/accuracy_vs_fraction.png: final test accuracy, mean +- std,
    against the training fraction, for those models and any other trained at
    more than one fraction;
(c) <results_dir>/controls.png: a panel per fraction of `controls_fractions`
    where a control (a model other than those three) has finished: each
    model's paired (by seed) difference in final test accuracy from its
    baseline, and from the models `also_compare` names, with its 95%
    interval;
(d) <markdown>: per model, training fraction and training length: parameters
    and overhead, GFLOPs, final and best test accuracy, the train - test
    accuracy gap, the final training loss, and the paired differences from
    the baseline and from the hybrid with 95% intervals; published figures;
    every run's own final and best test accuracy (with its epoch), final
    training loss and clean training accuracy; the differences in words;
    the figures; and the conclusion from
    <results_dir>/conclusion.md, which a person writes;
(e) <results_dir>/fidelity.png: with `published` curves, the published runs'
    test accuracy and training loss epoch by epoch beside this grid's runs of
    the same models, fraction and length; the page gives their differences.

The page and figures name the data the runs read, as `measures.DATA` words
it (CIFAR-10's offline copy went through JPEG; CIFAR-100's is lossless); a
grid whose runs read two datasets is refused.

It reports a partial grid too: a figure is drawn only from the runs that have
finished (and left out without them), and the page lists the unfinished ones,
with the step from which the grid's `archive` resumes those stopped partway.

The modules, in the order the report uses them: grid_spec (the grid's REPORT),
summaries (runs from a sweep directory or a summary), measures (what a run
measured), stats (means and paired intervals), groups (runs that differ only
in seed, paired), fidelity (against published figures), tables, plots, page;
__main__ is the command.
"""
