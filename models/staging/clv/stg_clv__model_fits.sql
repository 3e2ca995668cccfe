with

source as (

    select * from {{ source('clv', 'model_fits') }}

),

renamed as (

    select
        fit_id,
        customer_count,
        repeat_customer_count,
        horizon_weeks,
        annual_discount_rate,
        bgnbd_r,
        bgnbd_alpha,
        bgnbd_a,
        bgnbd_b,
        bgnbd_log_likelihood,
        gamma_gamma_p,
        gamma_gamma_q,
        gamma_gamma_gamma,
        gamma_gamma_log_likelihood,
        fit_seconds,
        fitted_at = max(fitted_at) over () as is_latest,
        as_of_date,
        fitted_at
    from source

)

select * from renamed
