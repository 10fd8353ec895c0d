// Key Vault in RBAC mode holding the app registration's client secret or certificate (PEM with its
// key), read by the app through a Key Vault reference with its managed identity (Key Vault Secrets User).
param name string
param location string
param tags object
@secure()
param clientSecret string
param clientSecretName string
@secure()
param clientCertificatePem string
param clientCertificateName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientSecret)) {
  parent: vault
  name: clientSecretName
  properties: {
    value: clientSecret
  }
}

resource certificate 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(clientCertificatePem)) {
  parent: vault
  name: clientCertificateName
  properties: {
    value: clientCertificatePem
    contentType: 'application/x-pem-file'
  }
}

output id string = vault.id
output name string = vault.name
