"""Gradient accumulation (train.microbatches): k microbatches in one optimizer step give the
losses of the whole batch in one pass, for every objective (the loss is total nll over total
loss-bearing tokens, and the objective's noise is drawn for the whole batch)."""
import pytest
from stepping import losses, rel_diff

from runstore import InputError


@pytest.mark.parametrize("objective", ["clm", "mlm", pytest.param("span", marks=pytest.mark.long)])
def test_microbatches_match_one_pass(objective):
    one = losses(objective, steps=4, **{"train.batch_size": 8})
    four = losses(objective, steps=4, **{"train.batch_size": 8, "train.microbatches": 4})
    assert rel_diff(four, one) < 1e-5, (four, one)
    # the comparison can tell runs apart: another seed moves the losses far more than 1e-5
    other = losses(objective, steps=4, **{"train.batch_size": 8, "seed": 1})
    assert rel_diff(other, one) > 1e-3


def test_microbatches_must_divide_the_batch():
    with pytest.raises(InputError, match="microbatches"):
        losses("clm", steps=1, **{"train.batch_size": 8, "train.microbatches": 3})
