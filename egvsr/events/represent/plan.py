"""Split a set of windows into balanced work items for the parallel kernels (numba, serial, cheap).

A work item is one window and a run [s0, s1) of its time segments; it owns the output planes it
writes, so items never race. Small windows are single items; a window heavier than one thread's
share is cut at segment boundaries (time-sorted events make each cut a disjoint time range, so the
threads touch different planes). Items are then grouped into at most `ngroups` contiguous runs of
about equal cost (events plus a per-plane charge for zeroing and combining), one run per thread.
"""

from __future__ import annotations

import numba
import numpy as np

# item columns
K_COL, S0_COL, S1_COL, MODE_COL, CARRY_COL = 0, 1, 2, 3, 4
MODE_DIRECT = 0  # zero the window's planes, scatter straight into the output
MODE_PAIRS = 1  # accumulate at sensor size into a scratch, then combine / splat into the output


@numba.njit(cache=True, nogil=True)
def plan_items(edges, plane_cells, scratch_cells, linear, use_scratch, ngroups, plane_charge,
               pair_density):
    """Return (items (n, 5) int64, group_starts (g + 1,) int64, n_carry).

    edges: (K, S + 1) event index of each segment start (last column: window end).
    plane_cells / scratch_cells: cells of one output plane / one sensor-size scratch plane.
    linear: True for voxel grids (S segments -> S + 1 planes; split items need the pair scratch).
    use_scratch: the scratch path is available (always for voxels, at a target size for hard bins).
    plane_charge: cost of one plane cell in event units. pair_density: events per scratch cell
    above which an item uses the scratch instead of scattering each event into the output.
    Group g should end near the quota (g + 1) * total / ngroups of the running cost; a heavy window
    is cut at the segment boundaries nearest to the quotas that fall inside it.
    """
    nwin = edges.shape[0]
    nseg = edges.shape[1] - 1
    nplanes = nseg + 1 if linear else nseg
    use_scratch = use_scratch or linear
    seg_charge = plane_charge * (max(plane_cells, scratch_cells) if use_scratch else plane_cells)
    total = 0.0
    for k in range(nwin):
        total += (edges[k, nseg] - edges[k, 0]) + nplanes * seg_charge
    ngroups = max(ngroups, 1)
    target = total / ngroups
    cap = nwin + 2 * ngroups + 2
    items = np.zeros((cap, 5), np.int64)
    cost = np.zeros(cap, np.float64)
    pos = np.zeros(nseg + 1, np.float64)
    n = 0
    n_carry = 0
    run = 0.0
    for k in range(nwin):
        ev = edges[k, nseg] - edges[k, 0]
        wcost = ev + nplanes * seg_charge
        dense = use_scratch and ev >= pair_density * nplanes * scratch_cells
        mode = MODE_PAIRS if dense else MODE_DIRECT
        split = ngroups > 1 and nseg > 1 and wcost > target
        if split:
            # cut points: the segment boundary nearest to each quota inside this window
            pos[0] = run
            for s in range(nseg):
                pos[s + 1] = pos[s] + (edges[k, s + 1] - edges[k, s]) + seg_charge
            s0 = 0
            for g in range(1, ngroups):
                q = g * target
                if q <= run or q >= run + wcost:
                    continue
                best = 1
                for b in range(2, nseg):
                    if abs(pos[b] - q) < abs(pos[best] - q):
                        best = b
                if best <= s0 or n >= cap - 1:
                    continue
                items[n, K_COL] = k
                items[n, S0_COL] = s0
                items[n, S1_COL] = best
                items[n, MODE_COL] = MODE_PAIRS if linear else mode
                items[n, CARRY_COL] = n_carry if linear else -1
                n_carry += 1 if linear else 0
                cost[n] = pos[best] - pos[s0]
                n += 1
                s0 = best
            items[n, K_COL] = k
            items[n, S0_COL] = s0
            items[n, S1_COL] = nseg
            items[n, MODE_COL] = MODE_PAIRS if linear else mode
            items[n, CARRY_COL] = -1
            cost[n] = pos[nseg] - pos[s0]
            n += 1
        else:
            items[n, K_COL] = k
            items[n, S0_COL] = 0
            items[n, S1_COL] = nseg
            items[n, MODE_COL] = mode
            items[n, CARRY_COL] = -1
            cost[n] = wcost
            n += 1
        run += wcost
    groups = np.zeros(ngroups + 1, np.int64)
    g = 0
    run = 0.0
    for i in range(n):
        # start the next group here when this item's midpoint lies past the current quota
        if g + 1 < ngroups and i > groups[g] and run + 0.5 * cost[i] > (g + 1) * target:
            g += 1
            groups[g] = i
        run += cost[i]
    groups[g + 1] = n
    return items[:n].copy(), groups[: g + 2].copy(), n_carry
