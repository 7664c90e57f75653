"""The status of every requirement in one set-based query (see ``status.py`` for the rules).

Parameters: ``$project`` (NULL = every project), ``$dm_dataset`` / ``$dm_metric`` / ``$dm_value``
/ ``$dm_n`` (data-quality figures per dataset, read from the quality reports), ``$k_*`` (per
metric of a current requirement: its kind's facts and default minimum sample, from
``rules.metric_kind``), ``$ri_*`` (intervals of evaluation figures read from the runs' evaluation
files), ``$alerts`` (whether open monitoring alerts count: not for a candidate), ``$now``.
``{production}`` is the production model per project: the ``production`` alias, or a candidate
for impact analysis.

A figure is judged with its interval (``rules.verdict`` does the same in Python): met when the
interval clears the threshold, violated when it lies wholly on the wrong side, inconclusive when it
straddles it or n is below the requirement's minimum sample; a figure without an interval is
judged by its value. While an alert made from the requirement's rule is open the requirement is
not met.
"""

from __future__ import annotations

GRAIN_RANK = (
    "CASE grain WHEN 'day' THEN 0 WHEN 'week' THEN 1 WHEN 'hour' THEN 2 "
    "ELSE 3 + epoch(window_end) - epoch(window_start) END"
)
"""Which of a project's window grains monitoring evidence reads: days (the unit of a requirement's
window), else weeks, else hours, else the finest."""

PRODUCTION_ALIAS = """
prod_model AS (
    SELECT a.project, m.artifact_id AS model_id, m.name AS model_name, m.version AS model_version,
           TRY_CAST(json_extract_string(m.metadata, '$.run_id') AS BIGINT) AS run_id,
           TRY_CAST(json_extract_string(m.metadata, '$.dataset_id') AS BIGINT) AS dataset_id,
           TRY_CAST(json_extract_string(m.metadata, '$.label_set_id') AS BIGINT) AS label_set_id
    FROM aliases a JOIN artifacts m ON m.artifact_id = a.artifact_id
    WHERE a.alias = 'production' AND (CAST($project AS VARCHAR) IS NULL OR a.project = $project)
)"""

PRODUCTION_CANDIDATE = """
prod_model AS (
    SELECT CAST($project AS VARCHAR) AS project, CAST($c_model_id AS BIGINT) AS model_id,
           CAST($c_model_name AS VARCHAR) AS model_name,
           CAST($c_model_version AS INTEGER) AS model_version, CAST($c_run_id AS BIGINT) AS run_id,
           CAST($c_dataset_id AS BIGINT) AS dataset_id,
           CAST($c_label_set_id AS BIGINT) AS label_set_id
)"""

STATUS_SQL = """
WITH RECURSIVE
cur AS MATERIALIZED (
    SELECT * FROM requirements
    WHERE CAST($project AS VARCHAR) IS NULL OR project = $project
    QUALIFY row_number() OVER (PARTITION BY project, requirement_id ORDER BY version DESC) = 1
),
ml AS MATERIALIZED (SELECT * FROM cur WHERE NOT deleted AND level = 'ml'),
sys AS MATERIALIZED (SELECT * FROM cur WHERE NOT deleted AND level = 'system'),
{production},
latest_dataset AS (
    SELECT project, arg_max(artifact_id, version) AS dataset_id FROM artifacts
    WHERE kind = 'dataset' GROUP BY project
),
latest_label_set AS (
    SELECT project, arg_max(artifact_id, version) AS label_set_id FROM artifacts
    WHERE kind = 'label_set' GROUP BY project
),
prod AS (
    SELECT * FROM (
        SELECT p.*, NULL::BIGINT AS verification_id, r.ended_at AS measured_at
        FROM prod_model p LEFT JOIN runs r ON r.run_id = p.run_id
        UNION ALL
        SELECT p.*, v.verification_id, v.created_at
        FROM prod_model p JOIN verification_runs v ON v.model_id = p.model_id AND v.project = p.project
    )
    QUALIFY row_number() OVER (
        PARTITION BY project ORDER BY measured_at DESC NULLS LAST, verification_id DESC NULLS LAST) = 1
),
latest_build AS (
    SELECT b.project, b.build_id, b.number, b.run_id, b.label_set_id, b.model_id, b.ended_at,
           i.artifact_id AS dataset_id, m.version AS model_version
    FROM builds b
    LEFT JOIN run_inputs i ON i.run_id = b.run_id AND i.role = 'dataset'
    LEFT JOIN artifacts m ON m.artifact_id = b.model_id
    WHERE b.run_id IS NOT NULL AND b.status IN ('successful', 'failed')
      AND (CAST($project AS VARCHAR) IS NULL OR b.project = $project)
    QUALIFY row_number() OVER (PARTITION BY b.project ORDER BY b.build_id DESC) = 1
),
verif AS (
    SELECT v.project, v.verification_id, v.model_id, v.model_version, v.dataset_id,
           v.label_set_id, v.created_at,
           coalesce(v.model_id = p.model_id AND v.dataset_id = d.dataset_id
                    AND v.label_set_id = l.label_set_id, false) AS current
    FROM verification_runs v
    LEFT JOIN prod_model p ON p.project = v.project
    LEFT JOIN latest_dataset d ON d.project = v.project
    LEFT JOIN latest_label_set l ON l.project = v.project
    WHERE CAST($project AS VARCHAR) IS NULL OR v.project = $project
    QUALIFY row_number() OVER (
        PARTITION BY v.project
        ORDER BY coalesce(v.model_id = p.model_id, false) DESC, v.verification_id DESC) = 1
),
mon_grain AS (
    SELECT project, arg_min(grain, {GRAIN_RANK}) AS grain
    FROM monitor_metrics WHERE CAST($project AS VARCHAR) IS NULL OR project = $project
    GROUP BY project
),
mon AS MATERIALIZED (
    SELECT m.* FROM monitor_metrics m JOIN mon_grain g ON g.project = m.project AND g.grain = m.grain
),
mon_windows AS (
    SELECT project, model_version, window_start, window_end, max(computed_at) AS computed_at
    FROM mon GROUP BY ALL
),
mon_end AS (SELECT project, max(window_end) AS last_end FROM mon_windows GROUP BY project),
mon_req AS (
    SELECT r.project, r.requirement_id, w.model_version, min(w.window_start) AS window_from,
           max(w.window_end) AS window_to, max(w.computed_at) AS measured_at,
           any_value(e.last_end) AS last_end
    FROM ml r
    JOIN mon_end e ON e.project = r.project
    JOIN mon_windows w ON w.project = r.project
         AND w.window_end > e.last_end - to_days(coalesce(r.window_days, 30))
    WHERE list_contains(r.evidence, 'monitoring')
    GROUP BY r.project, r.requirement_id, w.model_version
),
mon_ctx AS (
    SELECT q.*, coalesce(q.model_version = p.model_version, false) AS current
    FROM mon_req q LEFT JOIN prod_model p ON p.project = q.project
    QUALIFY row_number() OVER (
        PARTITION BY q.project, q.requirement_id
        ORDER BY current DESC, q.window_to DESC, q.model_version DESC NULLS LAST) = 1
),
ctx AS (
    SELECT r.project, r.requirement_id, 'production' AS source, p.model_id, p.model_version,
           p.run_id, p.dataset_id, p.label_set_id, NULL::BIGINT AS build_id, p.verification_id,
           NULL::TIMESTAMP AS window_from, NULL::TIMESTAMP AS window_to,
           NULL::TIMESTAMP AS last_end, p.measured_at, true AS current,
           coalesce('model:' || p.model_name || '@' || p.model_version, 'candidate')
             || CASE WHEN p.verification_id IS NULL THEN coalesce(' (run #' || p.run_id || ')', '')
                     ELSE ' (verification #' || p.verification_id || ')' END AS evidence_ref
    FROM ml r JOIN prod p ON p.project = r.project
    WHERE list_contains(r.evidence, 'production') AND (r.model IS NULL OR r.model = p.model_name)
    UNION ALL
    SELECT r.project, r.requirement_id, 'build', b.model_id, b.model_version, b.run_id,
           b.dataset_id, b.label_set_id, b.build_id, NULL, NULL, NULL, NULL, b.ended_at, true,
           'build #' || coalesce(b.number, b.build_id)
    FROM ml r JOIN latest_build b ON b.project = r.project
    WHERE list_contains(r.evidence, 'build')
    UNION ALL
    SELECT r.project, r.requirement_id, 'verification', v.model_id, v.model_version, NULL,
           v.dataset_id, v.label_set_id, NULL, v.verification_id, NULL, NULL, NULL, v.created_at,
           v.current, 'verification #' || v.verification_id || ' (model v' || v.model_version || ')'
    FROM ml r JOIN verif v ON v.project = r.project
    WHERE list_contains(r.evidence, 'verification')
    UNION ALL
    SELECT q.project, q.requirement_id, 'monitoring', am.artifact_id, q.model_version, NULL, NULL,
           NULL, NULL, NULL, q.window_from, q.window_to, q.last_end, q.measured_at, q.current,
           'monitoring ' || strftime(q.window_from, '%Y-%m-%d') || ' – '
             || strftime(q.window_to, '%Y-%m-%d') || ' (model v'
             || coalesce(CAST(q.model_version AS VARCHAR), '?') || ')'
    FROM mon_ctx q
    LEFT JOIN artifacts am ON am.kind = 'model' AND am.project = q.project
         AND am.name = q.project AND am.version = q.model_version
),
chosen AS MATERIALIZED (
    SELECT c.*, r.metric, r.comparator, r.threshold, r.relative_to, r.tolerance, r.absent_slice,
           r.window_days, coalesce(r.min_n, k.min_n, 0) AS min_n
    FROM ctx c JOIN ml r ON r.project = c.project AND r.requirement_id = c.requirement_id
    LEFT JOIN (SELECT unnest(CAST($k_metric AS VARCHAR[])) AS metric,
                      unnest(CAST($k_min_n AS INTEGER[])) AS min_n) k ON k.metric = r.metric
    QUALIFY row_number() OVER (
        PARTITION BY c.project, c.requirement_id
        ORDER BY c.current DESC, list_position(r.evidence, c.source)) = 1
),
targets AS MATERIALIZED (
    SELECT project, requirement_id,
           unnest(CASE WHEN len(slices) = 0 THEN [''] ELSE slices END) AS slice, false AS is_base
    FROM ml
    UNION ALL
    SELECT project, requirement_id, relative_to, true FROM ml WHERE relative_to IS NOT NULL
),
vm_metrics AS (SELECT DISTINCT verification_id, metric FROM verification_metrics),
data_metrics AS (
    SELECT unnest(CAST($dm_dataset AS BIGINT[])) AS dataset_id,
           unnest(CAST($dm_metric AS VARCHAR[])) AS metric,
           unnest(CAST($dm_value AS DOUBLE[])) AS value,
           unnest(CAST($dm_n AS DOUBLE[])) AS n
),
kinds AS (
    SELECT unnest(CAST($k_metric AS VARCHAR[])) AS metric,
           unnest(CAST($k_items AS BOOLEAN[])) AS counts_items,
           unnest(CAST($k_proportion AS BOOLEAN[])) AS proportion,
           unnest(CAST($k_exact AS BOOLEAN[])) AS exact,
           unnest(CAST($k_items_n AS BOOLEAN[])) AS items_n,
           unnest(CAST($k_min_n AS INTEGER[])) AS min_n
),
run_ci AS (
    SELECT unnest(CAST($ri_run AS BIGINT[])) AS run_id,
           unnest(CAST($ri_metric AS VARCHAR[])) AS metric,
           unnest(CAST($ri_slice AS VARCHAR[])) AS slice,
           unnest(CAST($ri_n AS DOUBLE[])) AS n,
           unnest(CAST($ri_lower AS DOUBLE[])) AS lower,
           unnest(CAST($ri_upper AS DOUBLE[])) AS upper,
           unnest(CAST($ri_method AS VARCHAR[])) AS method
),
-- what a per-class rate in monitoring is a share of: items truly of the class (recall), or
-- predicted as it (precision), pooled over the same windows: the rate's own n
mon_den AS (
    SELECT t.project, t.requirement_id, t.slice, t.is_base,
           starts_with(m.metric, 'estimated.') AS estimated, sum(m.value) AS n
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
         AND c.source = 'monitoring'
    JOIN mon m ON m.project = t.project AND m.slice = t.slice
         AND m.model_version IS NOT DISTINCT FROM c.model_version
         AND m.window_end > c.last_end - to_days(coalesce(c.window_days, 30))
    WHERE m.value IS NOT NULL
      AND regexp_replace(m.metric, '^estimated[.]', '') = CASE
            WHEN starts_with(c.metric, 'recall.') THEN 'support.' || substr(c.metric, 8)
            WHEN starts_with(c.metric, 'precision.') THEN 'predicted.' || substr(c.metric, 11)
          END
    GROUP BY ALL
),
found AS (
    SELECT t.project, t.requirement_id, t.slice, t.is_base,
           CASE WHEN vk.metric IS NOT NULL THEN vm.value ELSE rm.value END AS value,
           false AS estimated,
           -- an evaluation's n counts its items: the sample of accuracy, F1, AUC …, not of a
           -- class's rates (their own denominators) nor of latency (the items timed)
           CASE WHEN vk.metric IS NOT NULL
                THEN coalesce(vm.n, CASE WHEN k.items_n THEN vn.value END)
                ELSE coalesce(ri.n, CASE WHEN k.items_n THEN rn.value END) END AS n,
           CASE WHEN vk.metric IS NOT NULL THEN vm.lower ELSE ri.lower END AS lower,
           CASE WHEN vk.metric IS NOT NULL THEN vm.upper ELSE ri.upper END AS upper,
           CASE WHEN vk.metric IS NOT NULL AND vm.lower IS NOT NULL THEN 'stored'
                WHEN vk.metric IS NULL AND ri.lower IS NOT NULL THEN ri.method END AS method
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
    LEFT JOIN vm_metrics vk ON vk.verification_id = c.verification_id AND vk.metric = c.metric
    LEFT JOIN verification_metrics vm ON vm.verification_id = c.verification_id
         AND vm.metric = c.metric AND vm.slice = t.slice
    LEFT JOIN verification_metrics vn ON vn.verification_id = c.verification_id
         AND vn.metric = 'n' AND vn.slice = t.slice
    LEFT JOIN run_metrics rm ON rm.run_id = c.run_id AND rm.key = c.metric AND rm.slice = t.slice
    LEFT JOIN run_metrics rn ON rn.run_id = c.run_id AND rn.key = 'n' AND rn.slice = t.slice
    LEFT JOIN run_ci ri ON ri.run_id = c.run_id AND ri.metric = c.metric AND ri.slice = t.slice
    LEFT JOIN kinds k ON k.metric = c.metric
    WHERE c.source IN ('production', 'build', 'verification')
      AND CASE WHEN vk.metric IS NOT NULL THEN vm.value ELSE rm.value END IS NOT NULL
    UNION ALL
    -- a behavioural test's pass rate (slice "test = NAME"): of the build, or for production of
    -- the latest build that tested the production model
    SELECT t.project, t.requirement_id, t.slice, t.is_base, br.pass_rate, false, br.n,
           br.lower, br.upper, 'wilson'
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
         AND c.source = 'build'
    JOIN behave_results br ON br.build_id = c.build_id AND 'test = ' || br.test_name = t.slice
    WHERE c.metric = 'behave_pass_rate'
    UNION ALL
    SELECT * FROM (
        SELECT t.project, t.requirement_id, t.slice, t.is_base, br.pass_rate, false, br.n,
               br.lower, br.upper, 'wilson'
        FROM targets t
        JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
             AND c.source = 'production'
        JOIN behave_results br ON br.project = c.project AND br.model_id = c.model_id
             AND 'test = ' || br.test_name = t.slice
        WHERE c.metric = 'behave_pass_rate'
        QUALIFY row_number() OVER (
            PARTITION BY t.project, t.requirement_id, t.slice, t.is_base
            ORDER BY br.build_id DESC) = 1
    )
    UNION ALL
    SELECT t.project, t.requirement_id, t.slice, t.is_base,
           TRY_CAST(json_extract_string(ls.metadata, '$.alpha') AS DOUBLE), false,
           TRY_CAST(json_extract_string(ls.metadata, '$.items_compared') AS DOUBLE),
           TRY_CAST(json_extract_string(ls.metadata, '$.alpha_lower') AS DOUBLE),
           TRY_CAST(json_extract_string(ls.metadata, '$.alpha_upper') AS DOUBLE),
           CASE WHEN json_extract_string(ls.metadata, '$.alpha_lower') IS NOT NULL
                THEN 'bootstrap' END
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
    JOIN artifacts ls ON ls.artifact_id = c.label_set_id
    WHERE c.metric = 'label_agreement' AND t.slice = ''
      AND TRY_CAST(json_extract_string(ls.metadata, '$.alpha') AS DOUBLE) IS NOT NULL
    UNION ALL
    SELECT t.project, t.requirement_id, t.slice, t.is_base, d.value, false, d.n, NULL, NULL, NULL
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
    JOIN data_metrics d ON d.dataset_id = c.dataset_id AND d.metric = c.metric
    WHERE t.slice = ''
    UNION ALL
    SELECT f.project, f.requirement_id, f.slice, f.is_base, f.value, f.estimated,
           coalesce(d.n, f.n), NULL, NULL,
           CASE WHEN d.n IS NOT NULL THEN 'own_n' END
    FROM (
        SELECT t.project, t.requirement_id, t.slice, t.is_base,
               sum(m.value * coalesce(m.n, 1)) / nullif(sum(coalesce(m.n, 1)), 0) AS value,
               m.metric <> c.metric AS estimated, sum(m.n) AS n
        FROM targets t
        JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
             AND c.source = 'monitoring'
        JOIN mon m ON m.project = t.project AND m.slice = t.slice
             AND m.model_version IS NOT DISTINCT FROM c.model_version
             AND m.window_end > c.last_end - to_days(coalesce(c.window_days, 30))
             AND m.metric IN (c.metric, 'estimated.' || c.metric)
        WHERE m.value IS NOT NULL
        GROUP BY t.project, t.requirement_id, t.slice, t.is_base, m.metric <> c.metric
    ) f
    LEFT JOIN mon_den d ON d.project = f.project AND d.requirement_id = f.requirement_id
         AND d.slice = f.slice AND d.is_base = f.is_base AND d.estimated = f.estimated
),
vals AS MATERIALIZED (
    SELECT * FROM found WHERE value IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY project, requirement_id, slice, is_base ORDER BY estimated) = 1
),
-- each figure's interval: stored with it, else Wilson from its rate and n where n is its own
-- denominator (items for accuracy and error rates; a class's members for its rates)
vals_ci AS MATERIALIZED (
    SELECT v.project, v.requirement_id, v.slice, v.is_base, v.value, v.estimated, v.n,
           coalesce(v.lower, w.lower) AS lower, coalesce(v.upper, w.upper) AS upper,
           CASE WHEN v.lower IS NOT NULL THEN v.method
                WHEN w.lower IS NOT NULL THEN 'wilson'
                WHEN k.exact THEN 'exact' END AS method
    FROM vals v
    JOIN ml r ON r.project = v.project AND r.requirement_id = v.requirement_id
    JOIN chosen c ON c.project = v.project AND c.requirement_id = v.requirement_id
    LEFT JOIN kinds k ON k.metric = r.metric
    LEFT JOIN LATERAL (
        SELECT greatest(0.0, (p + z * z / (2 * v.n)
                    - z * sqrt(p * (1 - p) / v.n + z * z / (4 * v.n * v.n))) / (1 + z * z / v.n))
                 AS lower,
               least(1.0, (p + z * z / (2 * v.n)
                    + z * sqrt(p * (1 - p) / v.n + z * z / (4 * v.n * v.n))) / (1 + z * z / v.n))
                 AS upper
        FROM (SELECT least(greatest(v.value, 0.0), 1.0) AS p, 1.959963984540054 AS z)
        WHERE v.lower IS NULL AND v.n > 0 AND k.proportion
          AND (k.counts_items OR v.method = 'own_n')
    ) w ON true
),
scored AS (
    SELECT t.project, t.requirement_id, t.slice, v.value, v.estimated, v.n, v.lower, v.upper,
           v.method, c.absent_slice,
           c.relative_to IS NOT NULL AND b.value IS NULL AS base_missing,
           c.relative_to IS NOT NULL AND b.n IS NOT NULL AND b.n < c.min_n AS base_small,
           CASE WHEN c.relative_to IS NULL THEN c.threshold
                WHEN c.comparator IN ('>=', '>') THEN b.value - coalesce(c.tolerance, 0)
                ELSE b.value + coalesce(c.tolerance, 0) END AS limit_value,
           c.comparator, c.min_n
    FROM targets t
    JOIN chosen c ON c.project = t.project AND c.requirement_id = t.requirement_id
    LEFT JOIN vals_ci v ON v.project = t.project AND v.requirement_id = t.requirement_id
         AND v.slice = t.slice AND NOT v.is_base
    LEFT JOIN vals_ci b ON b.project = t.project AND b.requirement_id = t.requirement_id
         AND b.is_base
    WHERE NOT t.is_base
),
judged AS (
    SELECT *,
           CASE WHEN value IS NULL OR limit_value IS NULL THEN NULL
                WHEN n IS NOT NULL AND n < min_n THEN 'inconclusive'
                WHEN base_small THEN 'inconclusive'  -- a threshold from too few items
                WHEN lower IS NULL OR upper IS NULL THEN
                     CASE WHEN (comparator = '>=' AND value >= limit_value)
                            OR (comparator = '>' AND value > limit_value)
                            OR (comparator = '<=' AND value <= limit_value)
                            OR (comparator = '<' AND value < limit_value)
                          THEN 'met' ELSE 'violated' END
                WHEN (comparator = '>=' AND lower >= limit_value)
                  OR (comparator = '>' AND lower > limit_value)
                  OR (comparator = '<=' AND upper <= limit_value)
                  OR (comparator = '<' AND upper < limit_value) THEN 'met'
                WHEN (comparator = '>=' AND upper < limit_value)
                  OR (comparator = '>' AND upper <= limit_value)
                  OR (comparator = '<=' AND lower > limit_value)
                  OR (comparator = '<' AND lower >= limit_value) THEN 'violated'
                ELSE 'inconclusive' END AS verdict,
           CASE WHEN comparator IN ('>=', '>') THEN value - limit_value
                ELSE limit_value - value END AS room
    FROM scored
),
per_ml AS (
    SELECT project, requirement_id,
           count(*) FILTER (WHERE verdict = 'violated') AS failing,
           count(*) FILTER (WHERE verdict = 'inconclusive') AS unsure,
           count(*) FILTER (WHERE verdict IS NULL AND (absent_slice <> 'met' OR base_missing))
             AS missing,
           bool_or(base_missing) AS base_missing, bool_or(base_small) AS base_small,
           arg_min(slice, (verdict <> 'violated', room)) AS worst_slice,
           arg_min(value, (verdict <> 'violated', room)) AS worst_value,
           arg_min(estimated, (verdict <> 'violated', room)) AS worst_estimated,
           arg_min(n, (verdict <> 'violated', room)) AS worst_n,
           arg_min(lower, (verdict <> 'violated', room)) AS worst_lower,
           arg_min(upper, (verdict <> 'violated', room)) AS worst_upper,
           arg_min(method, (verdict <> 'violated', room)) AS worst_method,
           min(room) AS room, any_value(limit_value) AS limit_value,
           min(slice) FILTER (WHERE verdict IS NULL AND (absent_slice <> 'met' OR base_missing))
             AS missing_slice,
           min(slice) AS first_slice
    FROM judged GROUP BY project, requirement_id
),
open_alerts AS (
    SELECT r.project, r.requirement_id, max(a.alert_id) AS alert_id,
           bool_or(NOT starts_with(a.metric, 'estimated.')) AS realized
    FROM ml r JOIN alerts a ON a.project = r.project AND a.active AND a.status <> 'resolved'
         AND starts_with(a.rule, r.requirement_id || ': ')
    WHERE CAST($alerts AS BOOLEAN)
    GROUP BY r.project, r.requirement_id
),
ml_final AS MATERIALIZED (
    SELECT r.project, r.requirement_id, 'ml' AS level, r.version AS requirement_version,
           CASE WHEN c.source IS NULL THEN 'no_evidence'
                WHEN NOT c.current THEN 'suspect'
                WHEN s.failing > 0 THEN 'violated'
                WHEN s.missing > 0 THEN 'no_evidence'
                WHEN s.unsure > 0 OR s.base_small THEN 'inconclusive'
                WHEN oa.alert_id IS NOT NULL THEN 'inconclusive'
                WHEN r.check_changed_at IS NOT NULL AND c.measured_at < r.check_changed_at
                  THEN 'suspect'
                ELSE 'met' END AS status,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_value END AS value,
           CASE WHEN r.relative_to IS NULL THEN r.threshold ELSE s.limit_value END AS threshold,
           r.comparator,
           CASE WHEN s.base_missing THEN r.relative_to
                WHEN s.failing > 0 OR s.missing = 0 THEN coalesce(s.worst_slice, s.first_slice)
                ELSE s.missing_slice END AS slice,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_estimated END AS estimated,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_n END AS n,
           c.source, c.model_id, c.model_version, c.run_id, c.dataset_id, c.label_set_id,
           c.build_id, c.verification_id, c.window_from, c.window_to, c.measured_at,
           NULL::VARCHAR AS via, CAST(s.failing AS INTEGER) AS failing,
           CAST(s.missing AS INTEGER) AS missing, c.evidence_ref,
           CAST($now AS TIMESTAMP) AS computed_at,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_lower END AS lower,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_upper END AS upper,
           CASE WHEN s.failing > 0 OR s.missing = 0 THEN s.worst_method END AS interval_method,
           CAST(c.min_n AS INTEGER) AS min_n, oa.alert_id, s.room
    FROM ml r
    LEFT JOIN chosen c ON c.project = r.project AND c.requirement_id = r.requirement_id
    LEFT JOIN per_ml s ON s.project = r.project AND s.requirement_id = r.requirement_id
    LEFT JOIN open_alerts oa ON oa.project = r.project AND oa.requirement_id = r.requirement_id
),
closure(project, anc, des) AS (
    SELECT project, requirement_id, requirement_id FROM sys
    UNION
    SELECT c.project, c.anc, s.requirement_id
    FROM closure c JOIN sys s ON s.project = c.project
        AND (s.parent = c.des OR list_contains(s.derived_from, c.des))
),
-- an ML requirement refined by others (derived from it): its status is the worst of its own and
-- theirs, all the way down, with via naming the one that decided (one without a check of its own
-- takes theirs only)
ml_links AS (SELECT project, requirement_id AS child, unnest(derived_from) AS parent FROM ml),
ml_tree(project, anc, des) AS (
    SELECT project, requirement_id, requirement_id FROM ml
    UNION
    SELECT t.project, t.anc, l.child
    FROM ml_tree t JOIN ml_links l ON l.project = t.project AND l.parent = t.des
),
ml_rolled AS MATERIALIZED (
    SELECT f.* REPLACE (t.anc AS requirement_id, p.version AS requirement_version,
                        CASE WHEN t.des <> t.anc THEN t.des END AS via)
    FROM ml_tree t
    JOIN ml p ON p.project = t.project AND p.requirement_id = t.anc
    JOIN ml_final f ON f.project = t.project AND f.requirement_id = t.des
    QUALIFY row_number() OVER (
        PARTITION BY t.project, t.anc
        ORDER BY CASE WHEN t.des = t.anc AND (p.metric IS NULL OR p.comparator IS NULL) THEN -1
                      WHEN f.status = 'violated' THEN 4 WHEN f.status = 'suspect' THEN 3
                      WHEN f.status = 'inconclusive' THEN 2 WHEN f.status = 'no_evidence' THEN 1
                      ELSE 0 END DESC,
                 t.des = t.anc DESC, f.room ASC NULLS LAST, f.requirement_id) = 1
),
links AS (SELECT project, requirement_id AS ml_id, unnest(derived_from) AS sys_id FROM ml),
sys_via AS (
    SELECT c.anc AS sys_id, f.*
    FROM closure c
    JOIN links l ON l.project = c.project AND l.sys_id = c.des
    JOIN ml_rolled f ON f.project = l.project AND f.requirement_id = l.ml_id
    QUALIFY row_number() OVER (
        PARTITION BY c.project, c.anc
        ORDER BY CASE f.status WHEN 'violated' THEN 4 WHEN 'suspect' THEN 3
                 WHEN 'inconclusive' THEN 2 WHEN 'no_evidence' THEN 1 ELSE 0 END DESC,
                 f.room ASC NULLS LAST, f.requirement_id) = 1
)
SELECT project, requirement_id, level, requirement_version, status, value, threshold,
       comparator, slice, estimated, n, source, model_id, model_version, run_id, dataset_id,
       label_set_id, build_id, verification_id, window_from, window_to, measured_at, via,
       failing, missing, evidence_ref, computed_at, lower, upper, interval_method, min_n, alert_id
FROM ml_rolled
UNION ALL
SELECT s.project, s.requirement_id, 'system', s.version, coalesce(v.status, 'no_evidence'),
       v.value, v.threshold, v.comparator, v.slice, v.estimated, v.n, v.source, v.model_id,
       v.model_version, v.run_id, v.dataset_id, v.label_set_id, v.build_id, v.verification_id,
       v.window_from, v.window_to, v.measured_at, coalesce(v.via, v.requirement_id), v.failing,
       v.missing,
       v.evidence_ref, CAST($now AS TIMESTAMP), v.lower, v.upper, v.interval_method, v.min_n,
       v.alert_id
FROM sys s
LEFT JOIN sys_via v ON v.project = s.project AND v.sys_id = s.requirement_id
"""
