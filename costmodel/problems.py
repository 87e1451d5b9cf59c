"""Each MAC phase of a layer as a loop nest (:class:`costmodel.loopnest.Problem`) and the widths
of its tensors (:class:`costmodel.mapper.Widths`).

* forward: ``Out[n,k,p,q] += In[n,c,h,w] * Wt[k,c,r,s]``; operands ``x`` (In) and ``w`` (Wt),
  partial sums at the accumulator's width, results at the output format ``o``.
* backward_input: the transposed convolution ``dIn[n,c,h,w] += dOut[n,k,p,q] * Wt[k,c,r,s]``,
  written as a forward nest whose output is ``dIn`` (output channels ``Cin``, reduction over
  ``Cout`` and the kernel, flipped; padding ``dilation * (k - 1) - padding``). A strided
  layer's gradient is upsampled with zeros (``upsample = stride``): positions on the inserted
  zeros are never fetched, and the MACs on them are gated (``macs`` counts the real ones; the
  cycles count the nest's points, an upper bound). Results leave at the accumulator's width
  (the simulator passes the exact gradient on).
* backward_weight: ``dWt[k,c,r,s] += In[n,c,h,w] * dOut[n,k,p,q]``; the nest of the forward
  pass accumulating into ``Wt``; operands ``x`` and ``g``; results at ``wg``.

The group-convolution factor is folded into the channel dims per group (``groups`` copies run
one after another: the counts of one group times ``groups``).
"""

from __future__ import annotations

from costmodel.loopnest import Problem
from costmodel.mapper import Widths
from fxsim.numeric.shapes import LayerShape


def phase_problem(shape: LayerShape, phase: str, samples: int) -> tuple[Problem, int]:
    """``(problem, copies)``: the loop nest of ``phase`` of ``shape`` over ``samples`` samples
    (one group) and how many groups run it."""
    g = shape.groups
    kh, kw = shape.kernel
    hout, wout = shape.out_hw
    cin, cout = shape.in_channels // g, shape.out_channels // g
    if phase == "backward_input":
        sh, sw = shape.stride
        pad = tuple(shape.dilation[a] * (shape.kernel[a] - 1) - shape.padding[a]
                    for a in (0, 1))
        up = max(sh, sw) if sh == sw else 1
        in_hw = ((hout - 1) * sh + 1, (wout - 1) * sw + 1)
        problem = Problem((samples, cin, cout, *shape.in_hw, kh, kw), in_hw, (1, 1),
                          shape.dilation, pad, "Out", up)
        return problem, g
    output = "Wt" if phase == "backward_weight" else "Out"
    problem = Problem((samples, cout, cin, hout, wout, kh, kw), shape.in_hw, shape.stride,
                      shape.dilation, shape.padding, output)
    return problem, g


def phase_widths(phase: str, a_bits: int, b_bits: int, acc_bits: int,
                 final_bits: int) -> Widths:
    """Widths of the tensors of ``phase`` from a workload row's operand widths (``a`` the
    input-like operand, ``b`` the other), accumulator and result."""
    if phase == "backward_weight":
        return Widths((("In", a_bits), ("Out", b_bits)), acc_bits, final_bits, "Wt")
    return Widths((("In", a_bits), ("Wt", b_bits)), acc_bits, final_bits, "Out")
