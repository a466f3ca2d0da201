//! The generated clients' hooks: every operation runs its client's
//! [`Policy`] before, around and after sending.

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};

use crate::generated::{v1, v2};
use crate::policy::Policy;

macro_rules! hooks_for {
    ($client:ty) => {
        impl ClientHooks<Policy> for $client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().before(request, info).await
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                _info: &OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                self.inner().execute(self.client(), request).await
            }

            async fn post<E>(
                &self,
                result: &reqwest::Result<reqwest::Response>,
                _info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner().after(result).await
            }
        }
    };
}

hooks_for!(v1::Client);
hooks_for!(v2::Client);
